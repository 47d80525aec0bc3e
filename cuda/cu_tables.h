/* Word offsets of the constant tables the CUDA host uploads once per
 * device (cuda_backend.c, upload_tables) and the kernels and self-tests
 * read. */
#ifndef QK_CU_TABLES_H
#define QK_CU_TABLES_H

#define CU_TAB_RCP_BF16 0                /* qk_bnb_rcp_bf16, 128 words */
#define CU_TAB_RCP_F16 128               /* qk_bnb_rcp_f16, 1024 words */
#define CU_TAB_DMAP (128 + 1024)         /* qk_bnb_dynamic_map, 256 words */
#define CU_TAB_NF4 (128 + 1024 + 256)    /* qkf_nf4_bucket_table, 128 words */
#define CU_TAB_BNB_FP4 (CU_TAB_NF4 + 128)      /* qkf_bnb_code_table(0), 2048 words */
#define CU_TAB_BNB_NF4 (CU_TAB_BNB_FP4 + 2048) /* qkf_bnb_code_table(1) */
#define CU_TAB_DMAP_CODE (CU_TAB_BNB_NF4 + 2048) /* qkf_dmap_table, 1401 words */
#define CU_TAB_WORDS (CU_TAB_DMAP_CODE + 1401)

#endif
