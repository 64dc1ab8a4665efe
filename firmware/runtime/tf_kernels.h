/* tinyfuse runtime: int8 kernels with TFLite Micro's reference arithmetic (NHWC layout). */
#ifndef TINYFUSE_TF_KERNELS_H
#define TINYFUSE_TF_KERNELS_H

#include <stdint.h>

typedef struct {
  int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c;
  int32_t k_h, k_w, filter_in_c, depth_multiplier;
  int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
  int32_t input_offset, output_offset, act_min, act_max;
} tf_conv_params;

typedef struct {
  int32_t batches, accum_depth, out_depth;
  int32_t input_offset, filter_offset, output_offset, act_min, act_max;
} tf_fc_params;

typedef struct {
  int32_t batches, in_h, in_w, channels, out_h, out_w;
  int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w, act_min, act_max;
} tf_pool_params;

typedef struct {
  int32_t outer, reduced, inner;  /* input viewed as [outer, reduced, inner] */
  int32_t mode;                   /* TF_MEAN_* */
  int32_t input_zp, output_zp, multiplier, shift;
} tf_mean_params;

#define TF_MEAN_4D_HW 0       /* reference_integer_ops::Mean (keep_dims, axes 1 and 2) */
#define TF_MEAN_SAME_QUANT 1  /* reference_ops::Mean: truncating integer division */
#define TF_MEAN_REQUANT 2     /* reference_ops::QuantizedMeanOrSum */

typedef struct {
  int32_t out_dims[4];
  int32_t in1_strides[4], in2_strides[4];  /* 0 along broadcast dimensions */
  int32_t input1_offset, input2_offset, output_offset, left_shift;
  int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift, act_min, act_max;
} tf_add_params;


typedef struct {
  int32_t out_dims[4];
  int32_t in1_strides[4], in2_strides[4];  /* 0 along broadcast dimensions */
  int32_t input1_offset, input2_offset, output_offset;
  int32_t output_multiplier, output_shift, act_min, act_max;
} tf_mul_params;

/* A strided copy over up to 6 dimensions: output[out_start + sum(i_d * out_strides[d])] =
 * input[in_start + sum(i_d * in_strides[d])] for every index i < dims. */
typedef struct {
  int32_t dims[6];
  int32_t in_strides[6], out_strides[6];
  int32_t in_start, out_start;
} tf_copy_params;

typedef struct {
  int32_t input_zp, output_zp;
  int32_t output_multiplier16, output_exponent;   /* int16 fixed-point multipliers */
  int32_t reluish_multiplier16, reluish_exponent;
} tf_hard_swish_params;

/* col: scratch of k_h * k_w * filter_in_c bytes for one output pixel's receptive field
 * (unused, may be null, for a 1x1 convolution without padding). output == input (a pointwise
 * convolution planned in place, see firmware/compiler/in_place.py): col holds out_c bytes. */
void tf_conv_s8(const tf_conv_params *p, const int8_t *input, const int8_t *filter,
                const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                int8_t *col, int8_t *output);
/* output == input (planned in place): ring holds (pad_h + 1) output rows; else unused. */
void tf_depthwise_conv_s8(const tf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                          int8_t *ring, int8_t *output);
void tf_fully_connected_s8(const tf_fc_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output);
void tf_max_pool_s8(const tf_pool_params *p, const int8_t *input, int8_t *output);
void tf_avg_pool_s8(const tf_pool_params *p, const int8_t *input, int8_t *output);
void tf_mean_s8(const tf_mean_params *p, const int8_t *input, int8_t *output);
void tf_add_s8(const tf_add_params *p, const int8_t *input1, const int8_t *input2,
               int8_t *output);
void tf_concat_s8(int32_t count, const int8_t *const *inputs, const int32_t *inner_bytes,
                  int32_t outer, int8_t *output);
void tf_softmax_s8(int32_t outer, int32_t depth, int32_t input_multiplier,
                   int32_t input_left_shift, int32_t diff_min, const int8_t *input,
                   int8_t *output);
void tf_logistic_s8(int32_t size, int32_t input_zp, int32_t range_radius, int32_t multiplier,
                    int32_t left_shift, const int8_t *input, int8_t *output);
void tf_requantize_s8(int32_t size, int32_t input_zp, int32_t output_zp, int32_t multiplier,
                      int32_t shift, const int8_t *input, int8_t *output);

void tf_sub_s8(const tf_add_params *p, const int8_t *input1, const int8_t *input2,
               int8_t *output);
void tf_mul_s8(const tf_mul_params *p, const int8_t *input1, const int8_t *input2,
               int8_t *output);
void tf_minmax_s8(const int32_t *out_dims, const int32_t *in1_strides, const int32_t *in2_strides,
                  int32_t is_max, const int8_t *input1, const int8_t *input2, int8_t *output);
void tf_relu_s8(int32_t size, int32_t input_zp, int32_t output_zp, int32_t multiplier,
                int32_t shift, int32_t act_min, int32_t act_max, const int8_t *input,
                int8_t *output);
void tf_clamp_only_s8(int32_t size, int32_t lo, int32_t hi, const int8_t *input, int8_t *output);
void tf_leaky_relu_s8(int32_t size, int32_t input_zp, int32_t output_zp, int32_t mult_identity,
                      int32_t shift_identity, int32_t mult_alpha, int32_t shift_alpha,
                      const int8_t *input, int8_t *output);
void tf_tanh_s8(int32_t size, int32_t input_zp, int32_t range_radius, int32_t multiplier,
                int32_t left_shift, const int8_t *input, int8_t *output);
void tf_hard_swish_s8(const tf_hard_swish_params *p, int32_t size, const int8_t *input,
                      int8_t *output);
void tf_copy_s8(const tf_copy_params *p, const int8_t *input, int8_t *output);
void tf_fill_s8(int32_t size, int32_t value, int8_t *output);
void tf_tile_s8(int32_t rank, const int32_t *in_dims, const int32_t *out_dims,
                const int8_t *input, int8_t *output);
void tf_resize_nearest_s8(int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                          int32_t out_h, int32_t out_w, const int32_t *y_index,
                          const int32_t *x_index, const int8_t *input, int8_t *output);
void tf_reduce_max_s8(int32_t outer, int32_t reduced, int32_t inner, const int8_t *input,
                      int8_t *output);

#endif
