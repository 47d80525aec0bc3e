/* Pipeline statistics for tuning: with QK_VULKAN_PIPELINE_STATS set, each
 * pipeline the backend creates prints what the driver reports about its
 * compiled code (VK_KHR_pipeline_executable_properties): on NVIDIA, for
 * instance, registers per invocation, which bound a shader's occupancy. */
#include <stdio.h>
#include <stdlib.h>

#include "vk_internal.h"

int qk_vk_stats_wanted(void)
{
    const char *e = getenv("QK_VULKAN_PIPELINE_STATS");
    return e != NULL && *e != '\0' && *e != '0';
}

static void print_value(const VkPipelineExecutableStatisticKHR *st)
{
    const VkPipelineExecutableStatisticValueKHR *v = &st->value;
    switch (st->format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: fprintf(stderr, "%s", v->b32 ? "yes" : "no"); break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: fprintf(stderr, "%lld", (long long)v->i64); break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: fprintf(stderr, "%llu", (unsigned long long)v->u64); break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: fprintf(stderr, "%g", v->f64); break;
    default: fprintf(stderr, "?"); break;
    }
}

void qk_vk_print_pipeline_stats(const qk_vk_state *s, VkPipeline p, const char *name)
{
    PFN_vkGetPipelineExecutablePropertiesKHR props = (PFN_vkGetPipelineExecutablePropertiesKHR)
        s->api->vkGetDeviceProcAddr(s->device, "vkGetPipelineExecutablePropertiesKHR");
    PFN_vkGetPipelineExecutableStatisticsKHR stats = (PFN_vkGetPipelineExecutableStatisticsKHR)
        s->api->vkGetDeviceProcAddr(s->device, "vkGetPipelineExecutableStatisticsKHR");
    if (props == NULL || stats == NULL)
        return;
    VkPipelineInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, .pipeline = p};
    VkPipelineExecutablePropertiesKHR ex[4];
    uint32_t nex = 4;
    for (uint32_t i = 0; i < nex; i++)
        ex[i] = (VkPipelineExecutablePropertiesKHR){.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR};
    if (props(s->device, &pi, &nex, ex) < 0)
        return;
    for (uint32_t i = 0; i < nex; i++) {
        VkPipelineExecutableInfoKHR ei = {.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR, .pipeline = p,
                                          .executableIndex = i};
        VkPipelineExecutableStatisticKHR st[32];
        uint32_t nst = 32;
        for (uint32_t k = 0; k < nst; k++)
            st[k] = (VkPipelineExecutableStatisticKHR){.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
        if (stats(s->device, &ei, &nst, st) < 0)
            continue;
        fprintf(stderr, "qk vulkan: pipeline %s (%s, subgroup %u):", name, ex[i].name, ex[i].subgroupSize);
        for (uint32_t k = 0; k < nst; k++) {
            fprintf(stderr, "%s %s = ", k ? ";" : "", st[k].name);
            print_value(&st[k]);
        }
        fprintf(stderr, "\n");
    }
}
