/* Opens the Vulkan loader at run time: libqk has no link-time dependency on
 * Vulkan, so it loads (and reports the backend unavailable) where none is
 * installed. */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "vk_internal.h"

static qk_vk_api api;
static const char *load_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        load_error = "libvulkan.so.1 not found (install the Vulkan loader, e.g. libvulkan1)";
        return;
    }
    /* POSIX allows converting dlsym's object pointer to a function pointer
     * through memcpy; a plain cast trips -Wpedantic. */
    void *sym = dlsym(lib, "vkGetInstanceProcAddr");
    if (sym == NULL) {
        load_error = "libvulkan.so.1 has no vkGetInstanceProcAddr";
        return;
    }
    memcpy(&api.vkGetInstanceProcAddr, &sym, sizeof sym);
#define QK_VK_LOAD_GLOBAL(name) api.name = (PFN_##name)api.vkGetInstanceProcAddr(NULL, #name);
    QK_VK_GLOBAL_FNS(QK_VK_LOAD_GLOBAL)
    if (api.vkCreateInstance == NULL || api.vkEnumerateInstanceVersion == NULL)
        load_error = "the Vulkan loader is older than 1.1";
}

const qk_vk_api *qk_vk_load(const char **reason)
{
    pthread_once(&once, load);
    if (load_error != NULL) {
        *reason = load_error;
        return NULL;
    }
    return &api;
}

void qk_vk_load_instance(qk_vk_api *a, VkInstance inst)
{
#define QK_VK_LOAD_INSTANCE(name) a->name = (PFN_##name)a->vkGetInstanceProcAddr(inst, #name);
    QK_VK_INSTANCE_FNS(QK_VK_LOAD_INSTANCE)
    a->vkCreateDebugUtilsMessengerEXT =
        (PFN_vkCreateDebugUtilsMessengerEXT)a->vkGetInstanceProcAddr(inst, "vkCreateDebugUtilsMessengerEXT");
}

int qk_vk_load_device(const qk_vk_api *a, VkDevice dev, qk_vk_dev_api *out)
{
    int ok = 1;
#define QK_VK_LOAD_DEVICE(name)                                                                    \
    out->name = (PFN_##name)a->vkGetDeviceProcAddr(dev, #name);                                    \
    ok &= out->name != NULL;
    QK_VK_DEVICE_FNS(QK_VK_LOAD_DEVICE)
    return ok;
}
