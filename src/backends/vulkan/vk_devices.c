/* The Vulkan instance and the devices qk can use.
 *
 * A device is used only if it can give the reference's bytes: Vulkan 1.2,
 * RoundingModeRTE and SignedZeroInfNanPreserve for f32 (declared by every
 * shader; without them native add/mul would round in an unknown way), push
 * descriptors, a compute queue and 256-thread workgroups. Denormals need no
 * support: the shaders handle them in integer code. Other devices are listed
 * in the reason with what they lack, never used with inexact results.
 *
 * QK_VULKAN_VALIDATION=1 enables VK_LAYER_KHRONOS_validation; every message
 * of error severity is printed and counted, and the call that caused it fails. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

#define MAX_DEVICES 16

static qk_vk_api api;
static VkInstance instance;
static qk_vk_device devices[MAX_DEVICES];
static int device_count;
static char reason_buf[1024];
static unsigned long validation_errors;
static pthread_once_t once = PTHREAD_ONCE_INIT;

unsigned long qk_vk_validation_errors(void) { return __atomic_load_n(&validation_errors, __ATOMIC_RELAXED); }

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user)
{
    (void)types;
    (void)user;
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        __atomic_fetch_add(&validation_errors, 1, __ATOMIC_RELAXED);
        fprintf(stderr, "qk vulkan validation: %s\n", data && data->pMessage ? data->pMessage : "(no message)");
    }
    return VK_FALSE;
}

static int has_instance_ext(const char *name)
{
    uint32_t n = 0;
    api.vkEnumerateInstanceExtensionProperties(NULL, &n, NULL);
    VkExtensionProperties *e = calloc(n ? n : 1, sizeof *e);
    int found = 0;
    if (e && api.vkEnumerateInstanceExtensionProperties(NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= strcmp(e[i].extensionName, name) == 0;
    free(e);
    return found;
}

static int has_layer(const char *name)
{
    uint32_t n = 0;
    api.vkEnumerateInstanceLayerProperties(&n, NULL);
    VkLayerProperties *l = calloc(n ? n : 1, sizeof *l);
    int found = 0;
    if (l && api.vkEnumerateInstanceLayerProperties(&n, l) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= strcmp(l[i].layerName, name) == 0;
    free(l);
    return found;
}

static int has_device_ext(VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    api.vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL);
    VkExtensionProperties *e = calloc(n ? n : 1, sizeof *e);
    int found = 0;
    if (e && api.vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= strcmp(e[i].extensionName, name) == 0;
    free(e);
    return found;
}

static void add_reason(const char *fmt, const char *a, const char *b)
{
    size_t used = strlen(reason_buf);
    snprintf(reason_buf + used, sizeof reason_buf - used, fmt, a, b);
}

/* qk_vk_device.cluster_max of pd; *largest: maxSubgroupSize where it is
 * not 0. */
static uint32_t cluster_max(VkPhysicalDevice pd, uint32_t *largest)
{
    if (!has_device_ext(pd, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME) || getenv("QK_VULKAN_NO_CLUSTERS"))
        return 0;
    VkPhysicalDeviceSubgroupSizeControlFeaturesEXT ff = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &ff};
    api.vkGetPhysicalDeviceFeatures2(pd, &f2);
    VkPhysicalDeviceSubgroupSizeControlPropertiesEXT sp = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT};
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
                                             .pNext = &sp};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sg};
    api.vkGetPhysicalDeviceProperties2(pd, &p2);
    VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    uint32_t n = sg.subgroupSize;
    /* full subgroups need the workgroup (256) to be a multiple of the largest size */
    if (!ff.computeFullSubgroups || !(sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ||
        (sg.supportedOperations & need) != need || sp.maxSubgroupSize == 0 || 256 % sp.maxSubgroupSize != 0 ||
        n < 4 || (n & (n - 1)) != 0)
        return 0;
    *largest = sp.maxSubgroupSize;
    return n;
}

/* Why pd cannot be used ("" if it can); fills d. */
static const char *examine(VkPhysicalDevice pd, qk_vk_device *d)
{
    memset(d, 0, sizeof *d);
    d->phys = pd;
    api.vkGetPhysicalDeviceProperties(pd, &d->props);
    if (d->props.apiVersion < VK_API_VERSION_1_2)
        return "Vulkan 1.2 is required";
    VkPhysicalDeviceVulkan12Properties p12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &p12};
    api.vkGetPhysicalDeviceProperties2(pd, &p2);
    if (!p12.shaderRoundingModeRTEFloat32)
        return "no RoundingModeRTE for f32 (results would not be bit-exact)";
    if (!p12.shaderSignedZeroInfNanPreserveFloat32)
        return "no SignedZeroInfNanPreserve for f32 (results would not be bit-exact)";
    if (!has_device_ext(pd, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME))
        return "no VK_KHR_push_descriptor";
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
    api.vkGetPhysicalDeviceFeatures2(pd, &f2);
    /* independent rounding modes: the _f16n builds declare RTE for 16 and
     * 32 bits and nothing for 64 */
    d->f16_native = f12.shaderFloat16 && p12.shaderRoundingModeRTEFloat16 && p12.shaderSignedZeroInfNanPreserveFloat16 &&
                    p12.roundingModeIndependence == VK_SHADER_FLOAT_CONTROLS_INDEPENDENCE_ALL;
    /* the _f16d builds declare DenormPreserve for 16 bits only */
    d->f16_denorms = d->f16_native && p12.shaderDenormPreserveFloat16 &&
                     p12.denormBehaviorIndependence == VK_SHADER_FLOAT_CONTROLS_INDEPENDENCE_ALL;
    d->exec_stats = has_device_ext(pd, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    d->cluster_max = cluster_max(pd, &d->subgroup_max);
    const VkPhysicalDeviceLimits *lim = &d->props.limits;
    if (lim->maxComputeWorkGroupInvocations < 256 || lim->maxComputeWorkGroupSize[0] < 256 ||
        lim->maxComputeSharedMemorySize < 8192 || lim->maxPushConstantsSize < 4 * QK_VK_PC_WORDS ||
        lim->maxStorageBufferRange < (1u << 20))
        return "compute limits below qk's needs (256 threads, 8 KiB shared, 1 MiB bindings)";
    uint32_t nq = 0;
    api.vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties q[32];
    nq = nq > 32 ? 32 : nq;
    api.vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, q);
    int found = 0;
    for (uint32_t i = 0; i < nq && !found; i++) /* prefer a compute-only queue family */
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
            d->queue_family = i;
            d->timestamp_bits = q[i].timestampValidBits;
            found = 1;
        }
    for (uint32_t i = 0; i < nq && !found; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            d->queue_family = i;
            d->timestamp_bits = q[i].timestampValidBits;
            found = 1;
        }
    if (!found)
        return "no compute queue";
    /* streamed uploads and downloads go to a transfer-only family (the copy
     * engines, running beside the compute queue) where there is one */
    d->xfer_family = d->queue_family;
    if (!getenv("QK_VULKAN_ONE_QUEUE"))
        for (uint32_t i = 0; i < nq; i++)
            if ((q[i].queueFlags & VK_QUEUE_TRANSFER_BIT) &&
                !(q[i].queueFlags & (VK_QUEUE_COMPUTE_BIT | VK_QUEUE_GRAPHICS_BIT)) && q[i].queueCount > 0) {
                d->xfer_family = i;
                break;
            }
    VkPhysicalDeviceMemoryProperties mp;
    api.vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            d->local_memory += mp.memoryHeaps[i].size;
    return "";
}

static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
    default: return 3;
    }
}

static int by_rank(const void *a, const void *b)
{
    const qk_vk_device *x = a, *y = b;
    return type_rank(x->props.deviceType) - type_rank(y->props.deviceType);
}

static void init(void)
{
    const char *why = NULL;
    const qk_vk_api *loaded = qk_vk_load(&why);
    if (loaded == NULL) {
        snprintf(reason_buf, sizeof reason_buf, "%s", why);
        return;
    }
    api = *loaded;
    uint32_t version = 0;
    if (api.vkEnumerateInstanceVersion(&version) != VK_SUCCESS || version < VK_API_VERSION_1_2) {
        snprintf(reason_buf, sizeof reason_buf, "the Vulkan loader is older than 1.2");
        return;
    }
    const char *exts[2], *layers[1];
    uint32_t next = 0, nlayers = 0;
    const char *val = getenv("QK_VULKAN_VALIDATION");
    if (val && strcmp(val, "1") == 0) {
        if (has_layer("VK_LAYER_KHRONOS_validation"))
            layers[nlayers++] = "VK_LAYER_KHRONOS_validation";
        else
            fprintf(stderr, "qk vulkan: QK_VULKAN_VALIDATION=1 but VK_LAYER_KHRONOS_validation is not installed\n");
    }
    /* The messenger reports the layer's findings only (not the loader's
     * chatter, which would reach every qtool user's stderr). */
    int debug = nlayers > 0 && has_instance_ext(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    if (debug)
        exts[next++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "qk",
                             .pEngineName = "qk", .apiVersion = VK_API_VERSION_1_2};
    VkDebugUtilsMessengerCreateInfoEXT dm = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT,
        .pfnUserCallback = on_message};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pNext = debug ? &dm : NULL,
                                .pApplicationInfo = &app,
                                .enabledLayerCount = nlayers,
                                .ppEnabledLayerNames = layers,
                                .enabledExtensionCount = next,
                                .ppEnabledExtensionNames = exts};
    VkResult r = api.vkCreateInstance(&ici, NULL, &instance);
    if (r != VK_SUCCESS) {
        snprintf(reason_buf, sizeof reason_buf, "vkCreateInstance failed (%d): no Vulkan driver?", (int)r);
        return;
    }
    qk_vk_load_instance(&api, instance);
    if (debug && api.vkCreateDebugUtilsMessengerEXT) {
        VkDebugUtilsMessengerEXT messenger; /* lives as long as the instance */
        api.vkCreateDebugUtilsMessengerEXT(instance, &dm, NULL, &messenger);
    }
    uint32_t n = 0;
    api.vkEnumeratePhysicalDevices(instance, &n, NULL);
    VkPhysicalDevice pds[MAX_DEVICES];
    n = n > MAX_DEVICES ? MAX_DEVICES : n;
    if (n == 0 || api.vkEnumeratePhysicalDevices(instance, &n, pds) < 0) {
        snprintf(reason_buf, sizeof reason_buf, "no Vulkan device found");
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        qk_vk_device d;
        const char *no = examine(pds[i], &d);
        if (no[0] == '\0')
            devices[device_count++] = d;
        else
            add_reason("%s: %s; ", d.props.deviceName, no);
    }
    qsort(devices, (size_t)device_count, sizeof *devices, by_rank);
    if (device_count == 0 && reason_buf[0] == '\0')
        snprintf(reason_buf, sizeof reason_buf, "no usable Vulkan device");
}

int qk_vk_devices(const qk_vk_api **a, VkInstance *inst, const qk_vk_device **list, const char **reason)
{
    pthread_once(&once, init);
    if (a)
        *a = &api;
    if (inst)
        *inst = instance;
    if (list)
        *list = devices;
    if (reason)
        *reason = reason_buf;
    return device_count;
}
