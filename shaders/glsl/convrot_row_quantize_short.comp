#version 450
#extension GL_EXT_control_flow_attributes : require
/* int8_tensorwise with ConvRot per row in one pass, rows up to 1024
 * (qk_vk_convrot_row_quantize.glsl): a quarter of the shared memory of
 * convrot_row_quantize.comp, so that more of these short rows are in
 * flight. */
#define QK_CRQ_SETS 1 /* vk_ops.c: QK_VK_CONVROT_ROW_SHORT */
#include "qk_vk_convrot_row_quantize.glsl"
