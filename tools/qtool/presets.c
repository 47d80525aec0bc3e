/* Preset tables. Every preset keeps what all diffusion transformers need in
 * high precision (norms and 1-D tensors are never quantized anyway): input
 * and patch embedders (model detection reads their shapes), timestep/text
 * embedders, modulation (adaLN) projections, and output heads. */
#include "presets.h"

#include <string.h>

#define COMMON                                                                                     \
    {"(^|\\.)(norm|ln|layer_?norm|rms_?norm|q_norm|k_norm)[^.]*\\.", "normalization"},             \
    {"(^|\\.)(embed|embedding|embeddings|pos_embed|wte|wpe|tok_embeddings)(\\.|$)", "embedding"}

static const preset_keep generic_keep[] = {
    COMMON,
    {"(^|\\.)(img_in|txt_in|x_embedder|patch_embed|patch_embedding|patchify_proj|conv_in|input_proj)\\.",
     "input/patch embedder"},
    {"(^|\\.)(t_embedder|time_embed|time_embedding|time_in|timestep_embedder|vector_in|guidance_in|y_embedder)\\.",
     "timestep/vector embedder"},
    {"(adaLN|adaln|modulation|_mod\\.|\\.mod\\.)", "modulation"},
    {"(^|\\.)(final_layer|proj_out|head|lm_head|conv_out|norm_out)\\.", "output head"},
    {NULL, NULL}};

static const preset_keep wan_keep[] = {
    COMMON,
    {"^(model\\.diffusion_model\\.)?patch_embedding\\.", "patch embedder"},
    {"^(model\\.diffusion_model\\.)?(text_embedding|time_embedding|time_projection|img_emb)\\.",
     "text/time/image embedder"},
    {"^(model\\.diffusion_model\\.)?head\\.", "output head"},
    {"\\.modulation", "modulation"},
    {NULL, NULL}};

static const preset_keep flux2_keep[] = {
    COMMON,
    {"^(model\\.diffusion_model\\.)?(img_in|txt_in|time_in|vector_in|guidance_in)\\.", "input embedders"},
    {"(^|\\.)(double_stream_modulation|single_stream_modulation)[^.]*\\.", "modulation"},
    {"(^|\\.)(img_mod|txt_mod|modulation)\\.", "modulation"},
    {"^(model\\.diffusion_model\\.)?final_layer\\.", "output head"},
    {NULL, NULL}};

static const preset_keep qwen_keep[] = {
    COMMON,
    {"^(model\\.diffusion_model\\.)?(img_in|txt_in|txt_norm)\\.", "input embedders"},
    {"^(model\\.diffusion_model\\.)?time_text_embed\\.", "timestep embedder"},
    {"\\.(img_mod|txt_mod)\\.", "modulation"},
    {"^(model\\.diffusion_model\\.)?(norm_out|proj_out)\\.", "output head"},
    {NULL, NULL}};

static const preset_keep hunyuan_keep[] = {
    COMMON,
    {"^(model\\.diffusion_model\\.)?(img_in|txt_in|time_in|vector_in|guidance_in|byt5_in|cond_type_embedding)\\.",
     "input embedders"},
    {"(_mod|modulation)\\.(linear|lin)\\.", "modulation"},
    {"^(model\\.diffusion_model\\.)?final_layer\\.", "output head"},
    {NULL, NULL}};

static const preset_keep ltxv_keep[] = {
    COMMON,
    {"^(model\\.diffusion_model\\.)?(patchify_proj|audio_patchify_proj)\\.", "patch embedder"},
    {"^(model\\.diffusion_model\\.)?(adaln_single|audio_adaln_single|caption_projection|audio_caption_projection)\\.",
     "timestep/caption embedders"},
    {"(^|\\.)(scale_shift_table|prompt_adaln_single)", "modulation"},
    {"^(model\\.diffusion_model\\.)?(proj_out|audio_proj_out)\\.", "output head"},
    {NULL, NULL}};

static const char *const no_edges[] = {NULL};
static const char *const wan_edges[] = {"blocks", NULL};
static const char *const flux_edges[] = {"double_blocks", "single_blocks", NULL};
static const char *const qwen_edges[] = {"transformer_blocks", NULL};

static const preset presets[] = {
    {"generic", "norms, embeddings, embedders, modulation and heads stay high precision", generic_keep,
     no_edges},
    {"wan", "Wan 2.x video DiT: patch/text/time embedders, head, first and last block", wan_keep,
     wan_edges},
    {"flux2", "FLUX.1/FLUX.2: img/txt/time embedders, modulation, final layer, first and last blocks",
     flux2_keep, flux_edges},
    {"qwen-image", "Qwen-Image: embedders, img/txt modulation, output, first and last block", qwen_keep,
     qwen_edges},
    {"hunyuan", "HunyuanVideo / HunyuanImage: embedders, modulation, final layer", hunyuan_keep,
     no_edges},
    {"ltxv", "LTX-Video: patchify, adaLN and caption projections, output", ltxv_keep, no_edges},
};

const preset *preset_at(int i)
{
    return i >= 0 && i < (int)(sizeof presets / sizeof *presets) ? &presets[i] : NULL;
}

const preset *preset_find(const char *name)
{
    for (const preset *p = preset_at(0); p != NULL; p = preset_at((int)(p - presets) + 1))
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}
