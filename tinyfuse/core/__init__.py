"""What every layer shares: errors, spec helpers, int8 quantisation with TFLite's rounding, the
TFLite Micro reference interpreter and the bundle. Imports no other part of tinyfuse."""
