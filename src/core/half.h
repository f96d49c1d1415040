/* IEEE half and bfloat16 <-> fp32 element conversions (safetensors I/O, bf16 kernel buffers). */
#ifndef RADVLM_CORE_HALF_H
#define RADVLM_CORE_HALF_H

#include <stdint.h>

/* F32 -> F16/BF16 round to nearest, ties to even; overflow gives infinity; NaN stays NaN with its
 * sign and as much payload as fits (so F16/BF16 -> F32 -> F16/BF16 is the identity on all 65536
 * bit patterns). F16 subnormals are exact both ways. */
float rv_bf16_to_f32(uint16_t h);
uint16_t rv_f32_to_bf16(float f);
float rv_f16_to_f32(uint16_t h);
uint16_t rv_f32_to_f16(float f);

#endif
