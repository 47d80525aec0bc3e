#version 450
#extension GL_EXT_control_flow_attributes : require
/* int8_tensorwise with ConvRot per row in one pass, rows up to 4096
 * (qk_vk_convrot_row_quantize.glsl). */
#define QK_CRQ_SETS 4 /* vk_ops.c: QK_VK_CONVROT_ROW_MAX */
#include "qk_vk_convrot_row_quantize.glsl"
