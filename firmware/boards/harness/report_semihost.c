/* Report sink of the semihosting boards: every result is a host file in QEMU's working
 * directory. */
#include "harness.h"

HARNESS_TEXT void report_init(void)
{
}

HARNESS_TEXT int32_t report_open(const char *name)
{
    return sh_open(name, SH_MODE_WRITE_BINARY);
}

HARNESS_TEXT int32_t report_write(int32_t handle, const void *buffer, uint32_t length_bytes)
{
    return sh_write(handle, buffer, length_bytes);
}

HARNESS_TEXT void report_close(int32_t handle)
{
    sh_close(handle);
}
