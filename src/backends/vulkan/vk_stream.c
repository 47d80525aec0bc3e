/* Pipelined execution of one operation: the tensor goes through the device
 * in pieces, and piece k + 1's upload and piece k - 1's download run while
 * piece k computes.
 *
 * Slot k % QK_VK_SLOTS owns an upload region and a download region of the
 * staging buffer and three command buffers: upload (staging -> device),
 * compute (the piece's dispatches) and download (device -> staging). They are
 * linked by binary semaphores, so each waits only for its own piece; the
 * slot's fence says when the host may reuse the regions (and copy the
 * download out). Copies go to a transfer-only queue family when the device
 * has one (the copy engines), else to the compute queue, where the semaphores
 * still order only what must be ordered. Inside a piece only compute-to-compute
 * barriers are used: a barrier on the transfer stage would also wait for the
 * other pieces' copies submitted before it. */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

static qk_status vk_err(VkResult r, const char *what)
{
    return qk_fail(r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY
                       ? QK_ERR_OUT_OF_MEMORY
                       : QK_ERR_BACKEND_FAILURE,
                   "vulkan: %s failed (VkResult %d)", what, (int)r);
}

qk_status qk_vk_stream_open(qk_vk_state *s)
{
    VkResult r;
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = s->dev->xfer_family};
    if ((r = s->d.vkCreateCommandPool(s->device, &pi, NULL, &s->xpool)) != VK_SUCCESS)
        return vk_err(r, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = s->xpool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = QK_VK_SLOTS};
    if ((r = s->d.vkAllocateCommandBuffers(s->device, &ai, s->st_up)) != VK_SUCCESS ||
        (r = s->d.vkAllocateCommandBuffers(s->device, &ai, s->st_down)) != VK_SUCCESS)
        return vk_err(r, "vkAllocateCommandBuffers");
    ai.commandPool = s->pool;
    if ((r = s->d.vkAllocateCommandBuffers(s->device, &ai, s->st_comp)) != VK_SUCCESS)
        return vk_err(r, "vkAllocateCommandBuffers");
    VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    for (int i = 0; i < QK_VK_SLOTS; i++) {
        if ((r = s->d.vkCreateSemaphore(s->device, &si, NULL, &s->st_sem_up[i])) != VK_SUCCESS ||
            (r = s->d.vkCreateSemaphore(s->device, &si, NULL, &s->st_sem_comp[i])) != VK_SUCCESS)
            return vk_err(r, "vkCreateSemaphore");
        if ((r = s->d.vkCreateFence(s->device, &fi, NULL, &s->st_fence[i])) != VK_SUCCESS)
            return vk_err(r, "vkCreateFence");
    }
    s->st_region = (2 * s->staging_half / (2 * QK_VK_SLOTS)) & ~(VkDeviceSize)255;
    /* QK_VULKAN_STREAM=0: whole-buffer transfers only (tests compare both
     * paths; a GPU session can time both) */
    if (qk_vk_env_off("QK_VULKAN_STREAM"))
        s->st_region = 0;
    return QK_OK;
}

void qk_vk_stream_close(qk_vk_state *s)
{
    for (int i = 0; i < QK_VK_SLOTS; i++) {
        if (s->st_sem_up[i])
            s->d.vkDestroySemaphore(s->device, s->st_sem_up[i], NULL);
        if (s->st_sem_comp[i])
            s->d.vkDestroySemaphore(s->device, s->st_sem_comp[i], NULL);
        if (s->st_fence[i])
            s->d.vkDestroyFence(s->device, s->st_fence[i], NULL);
    }
    if (s->xpool) /* frees st_up and st_down; st_comp goes with s->pool */
        s->d.vkDestroyCommandPool(s->device, s->xpool, NULL);
}

/* One slot's work in flight: its fence, and where its download goes. */
typedef struct {
    int busy;
    unsigned char *dst; /* NULL: nothing to copy out */
    size_t len;
} slot_state;

typedef struct {
    qk_vk_state *s;
    slot_state slot[QK_VK_SLOTS];
    long next; /* pieces submitted so far (all phases): the next slot */
} stream;

/* Waits for a slot's last piece and copies its download out. */
static qk_status slot_wait(stream *t, int k)
{
    qk_vk_state *s = t->s;
    slot_state *sl = &t->slot[k];
    if (!sl->busy)
        return QK_OK;
    VkResult r = s->d.vkWaitForFences(s->device, 1, &s->st_fence[k], VK_TRUE, UINT64_MAX);
    s->d.vkResetFences(s->device, 1, &s->st_fence[k]);
    sl->busy = 0;
    if (r != VK_SUCCESS)
        return vk_err(r, "vkWaitForFences (piece)");
    if (sl->dst)
        memcpy(sl->dst, (unsigned char *)s->staging_map + (VkDeviceSize)(2 * k + 1) * s->st_region, sl->len);
    sl->dst = NULL;
    return QK_OK;
}

static qk_status record_copy(qk_vk_state *s, VkCommandBuffer cb, VkBuffer from, VkDeviceSize from_off, VkBuffer to,
                             VkDeviceSize to_off, VkDeviceSize n)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = s->d.vkBeginCommandBuffer(cb, &bi);
    if (r != VK_SUCCESS)
        return vk_err(r, "vkBeginCommandBuffer");
    VkBufferCopy c = {from_off, to_off, n};
    s->d.vkCmdCopyBuffer(cb, from, to, 1, &c);
    r = s->d.vkEndCommandBuffer(cb);
    return r == VK_SUCCESS ? QK_OK : vk_err(r, "vkEndCommandBuffer");
}

static qk_status submit(VkQueue q, qk_vk_state *s, VkCommandBuffer cb, VkSemaphore wait, VkPipelineStageFlags stage,
                        VkSemaphore signal, VkFence fence)
{
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .waitSemaphoreCount = wait ? 1u : 0u, .pWaitSemaphores = &wait, .pWaitDstStageMask = &stage,
                       .commandBufferCount = 1, .pCommandBuffers = &cb,
                       .signalSemaphoreCount = signal ? 1u : 0u, .pSignalSemaphores = &signal};
    VkResult r = s->d.vkQueueSubmit(q, 1, &si, fence);
    return r == VK_SUCCESS ? QK_OK : vk_err(r, "vkQueueSubmit (piece)");
}

/* After a failed submission: the device is drained, but a semaphore that
 * was signalled and never waited on would stay signalled into the next
 * call; slot k gets fresh ones. */
static void slot_abandon(qk_vk_state *s, int k)
{
    s->d.vkDeviceWaitIdle(s->device);
    VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    VkSemaphore *sems[2] = {&s->st_sem_up[k], &s->st_sem_comp[k]};
    for (int i = 0; i < 2; i++) {
        s->d.vkDestroySemaphore(s->device, *sems[i], NULL);
        if (s->d.vkCreateSemaphore(s->device, &si, NULL, sems[i]) != VK_SUCCESS) {
            *sems[i] = VK_NULL_HANDLE;
            s->st_region = 0; /* no pieces without their semaphores: whole-buffer path */
        }
    }
}

/* Submits the upload, compute and download of units [u0, u1) of a phase. */
static qk_status piece(stream *t, const qk_vk_job *j, int dq, int phase, int64_t u0, int64_t u1, const void *in,
                       void *out)
{
    qk_vk_state *s = t->s;
    const qk_vk_phase *ph;
    qk_vk_plan plan;
    qk_vk_plan_of(s, j, dq, &plan);
    ph = &plan.ph[phase];
    int k = (int)(t->next++ % QK_VK_SLOTS);
    qk_status st = slot_wait(t, k);
    if (st != QK_OK)
        return st;
    VkDeviceSize io, il, oo, ol;
    qk_vk_piece_bytes(s, j, dq, phase, u0, u1, &io, &il, &oo, &ol);
    int up = ph->in_slot >= 0 && il > 0 && in != NULL, down = ph->out_slot >= 0 && ol > 0;
    if (il > s->st_region || ol > s->st_region)
        return qk_fail(QK_ERR_BACKEND_FAILURE, "vulkan: internal error: a piece exceeds its staging region");
    VkDeviceSize in_region = (VkDeviceSize)(2 * k) * s->st_region, out_region = in_region + s->st_region;
    if (up) {
        memcpy((unsigned char *)s->staging_map + in_region, (const unsigned char *)in + io, (size_t)il);
        st = record_copy(s, s->st_up[k], s->staging.buf, in_region, s->bufs[ph->in_slot].buf, io, il);
        if (st == QK_OK)
            st = submit(s->xqueue, s, s->st_up[k], VK_NULL_HANDLE, 0, s->st_sem_up[k], VK_NULL_HANDLE);
        if (st != QK_OK)
            return st;
    }
    VkCommandBuffer main_cmd = s->cmd;
    s->cmd = s->st_comp[k];
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = s->d.vkBeginCommandBuffer(s->cmd, &bi);
    st = r == VK_SUCCESS ? qk_vk_record_piece(s, j, dq, phase, u0, u1) : vk_err(r, "vkBeginCommandBuffer");
    r = s->d.vkEndCommandBuffer(s->cmd);
    s->cmd = main_cmd;
    if (st == QK_OK && r != VK_SUCCESS)
        st = vk_err(r, "vkEndCommandBuffer");
    if (st == QK_OK)
        st = submit(s->queue, s, s->st_comp[k], up ? s->st_sem_up[k] : VK_NULL_HANDLE,
                    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, down ? s->st_sem_comp[k] : VK_NULL_HANDLE,
                    down ? VK_NULL_HANDLE : s->st_fence[k]);
    if (st != QK_OK) {
        /* an upload may wait on nobody: drain the queues before failing */
        slot_abandon(s, k);
        return st;
    }
    t->slot[k].busy = 1;
    if (down) {
        st = record_copy(s, s->st_down[k], s->bufs[ph->out_slot].buf, oo, s->staging.buf, out_region, ol);
        if (st == QK_OK)
            st = submit(s->xqueue, s, s->st_down[k], s->st_sem_comp[k], VK_PIPELINE_STAGE_TRANSFER_BIT,
                        VK_NULL_HANDLE, s->st_fence[k]);
        if (st != QK_OK) {
            slot_abandon(s, k);
            t->slot[k].busy = 0; /* its fence will never signal */
            return st;
        }
        t->slot[k].dst = (unsigned char *)out + oo;
        t->slot[k].len = (size_t)ol;
    }
    return QK_OK;
}

/* Units per piece: the largest multiple of the phase's unit whose bytes fit
 * a staging region (0 when one unit does not). */
static int64_t piece_units(const qk_vk_state *s, const qk_vk_job *j, int dq, int phase, const qk_vk_phase *ph)
{
    VkDeviceSize io, il, oo, ol;
    qk_vk_piece_bytes(s, j, dq, phase, 0, ph->unit, &io, &il, &oo, &ol);
    VkDeviceSize per = il > ol ? il : ol;
    if (s->st_region == 0)
        return 0;
    if (per == 0)
        return ph->units;
    int64_t k = (int64_t)(s->st_region / per);
    return k * ph->unit;
}

static qk_status run_phase(stream *t, const qk_vk_job *j, int dq, int phase, const qk_vk_phase *ph, int64_t pu,
                           const void *in, void *out)
{
    qk_status st = QK_OK;
    for (int64_t u0 = 0; u0 < ph->units && st == QK_OK; u0 += pu)
        st = piece(t, j, dq, phase, u0, u0 + pu < ph->units ? u0 + pu : ph->units, in, out);
    return st;
}

/* The middle step between the phases, on the compute queue after every
 * phase-0 piece (its barriers order it against them and phase 1). */
static qk_status middle(qk_vk_state *s, const qk_vk_job *j, int dq)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = s->d.vkBeginCommandBuffer(s->cmd, &bi);
    if (r != VK_SUCCESS)
        return vk_err(r, "vkBeginCommandBuffer");
    qk_status st = qk_vk_record_middle(s, j, dq);
    r = s->d.vkEndCommandBuffer(s->cmd);
    if (st == QK_OK && r != VK_SUCCESS)
        st = vk_err(r, "vkEndCommandBuffer");
    if (st == QK_OK)
        st = submit(s->queue, s, s->cmd, VK_NULL_HANDLE, 0, VK_NULL_HANDLE, s->fence);
    return st;
}

int qk_vk_stream_fits(const qk_vk_state *s, const qk_vk_job *j, int dq)
{
    qk_vk_plan plan;
    qk_vk_plan_of(s, j, dq, &plan);
    for (int p = 0; p < plan.nphase; p++)
        if (piece_units(s, j, dq, p, &plan.ph[p]) <= 0)
            return 0;
    return 1;
}

qk_status qk_vk_stream(qk_vk_state *s, const qk_vk_job *j, int dq, const void *in, void *out)
{
    qk_vk_plan plan;
    qk_vk_plan_of(s, j, dq, &plan);
    int64_t pu[2] = {0, 0};
    for (int p = 0; p < plan.nphase; p++)
        if ((pu[p] = piece_units(s, j, dq, p, &plan.ph[p])) <= 0)
            return qk_fail(QK_ERR_BACKEND_FAILURE, "vulkan: internal error: a piece exceeds the staging regions");
    /* reserve the buffers and clear what the pieces accumulate into */
    qk_status st = qk_vk_begin(s);
    if (st == QK_OK)
        st = qk_vk_record_prepare(s, j, dq);
    qk_status st2 = qk_vk_submit_wait(s);
    if (st == QK_OK)
        st = st2;
    if (st != QK_OK)
        return st;
    stream t = {.s = s};
    int middle_sent = 0;
    st = run_phase(&t, j, dq, 0, &plan.ph[0], pu[0], in, out);
    if (st == QK_OK && plan.nphase == 2) {
        st = middle(s, j, dq);
        middle_sent = st == QK_OK;
        if (st == QK_OK)
            st = run_phase(&t, j, dq, 1, &plan.ph[1], pu[1], in, out);
    }
    for (int k = 0; k < QK_VK_SLOTS; k++) {
        qk_status w = slot_wait(&t, k);
        st = st == QK_OK ? w : st;
    }
    if (middle_sent) {
        VkResult r = s->d.vkWaitForFences(s->device, 1, &s->fence, VK_TRUE, UINT64_MAX);
        s->d.vkResetFences(s->device, 1, &s->fence);
        if (st == QK_OK && r != VK_SUCCESS)
            st = vk_err(r, "vkWaitForFences");
    }
    if (st != QK_OK)
        return st;
    /* a last recording: what follows the pieces (qk_vk_record_finish), and
     * barriers that make the pieces' writes visible to the whole-buffer
     * downloads of the small parts that follow */
    st = qk_vk_begin(s);
    if (st == QK_OK)
        st = qk_vk_record_finish(s, j, dq);
    st2 = qk_vk_submit_wait(s);
    return st == QK_OK ? st2 : st;
}
