#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
/* Per-row float8 / int8_tensorwise of f32 rows up to 4096
 * (qk_vk_row_quantize.glsl's grid-stride f32 loop): four quads a thread,
 * so that a row and the next one's loads fit the registers of
 * row_quantize.comp's eight quads for one row. */
#define QK_ROW_UNITS 2u
#define QK_ROW_F32 1
#include "qk_vk_row_quantize.glsl"
