/*
 * libcr.h -- crmpi's per-process checkpoint/restart library (BLCR-style API).
 *
 * A process becomes checkpointable by loading libcr.so: link against it
 * (-lcr) or start the program under `cr_run`, which preloads it.  Loading is
 * enough: every thread is checkpointed whether or not it ever calls into
 * libcr.  Only threads that call the cr_* functions below must call cr_init()
 * first (it sets up per-thread state).
 *
 * Checkpoint sequence (the order of BLCR, see docs/architecture.md):
 *   1. Thread-context callbacks run, in libcr's dedicated thread, while the
 *      application keeps running.  Each calls cr_checkpoint() at the point
 *      where the checkpoint is to happen.
 *   2. Every other thread is interrupted by a signal; signal-context callbacks
 *      run in the thread that registered them, and call cr_checkpoint().
 *   3. The process image is written.
 *   4. Each cr_checkpoint() returns: 0 when continuing in the original
 *      process, a positive value when resuming in a restarted process.
 *      Signal-context callbacks finish first, then the threads are released
 *      and the thread-context callbacks finish.
 * Callbacks run in the reverse order of registration before the checkpoint
 * (the last registered runs first) and unwind in registration order after it.
 *
 * Errors are reported as -1 with errno set, unless stated otherwise.  The
 * CR_E* codes below are errno values outside the range used by Linux.
 */
#ifndef CRMPI_LIBCR_H
#define CRMPI_LIBCR_H

#include <signal.h>
#include <sys/time.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Error codes (errno values).
 * ------------------------------------------------------------------------ */
#define CR_ERRNO_BASE 1000
/** The checkpoint failed in a way that may succeed if tried again (a
 *  callback asked for it with CR_CHECKPOINT_TEMP_FAILURE, a thread did not
 *  stop in time, another checkpoint was in progress). */
#define CR_ETEMPFAIL (CR_ERRNO_BASE + 1)
/** The checkpoint failed permanently (a callback asked for it with
 *  CR_CHECKPOINT_PERM_FAILURE, or the process holds something that can never
 *  be captured). */
#define CR_EPERMFAIL (CR_ERRNO_BASE + 2)
/** The target process does not have libcr loaded (not started by cr_run, not
 *  linked with -lcr) or is not reachable by the caller. */
#define CR_ENOSUPPORT (CR_ERRNO_BASE + 3)
/** Returned by cr_poll_checkpoint() in a self-checkpoint that has just been
 *  restarted: this process is the restarted copy. */
#define CR_ERESTARTED (CR_ERRNO_BASE + 4)

/** Text for errno values, including the CR_E* codes.  Never NULL. */
const char* cr_strerror(int errnum);

/* ------------------------------------------------------------------------
 * Initialisation.
 * ------------------------------------------------------------------------ */

/** Client id returned by cr_init(). */
typedef int cr_client_id_t;

/**
 * cr_init -- set up libcr state for the calling thread.
 *
 * Must be called by every thread before it calls any other cr_* function.
 * Calling it more than once in a thread is harmless.
 *
 * Returns: a positive client id, or -1 with errno set (ENOSYS if libcr's
 * runtime could not start, e.g. its control socket could not be created).
 * Signal safety: not async-signal-safe.
 */
cr_client_id_t cr_init(void);

/* ------------------------------------------------------------------------
 * Callbacks.
 * ------------------------------------------------------------------------ */

/** Callback type: the return value is ignored (report failure through the
 *  flags of cr_checkpoint()). */
typedef int (*cr_callback_t)(void* arg);

/** Opaque callback identifier returned by cr_register_callback(). */
typedef int cr_callback_id_t;

/** Run the callback in libcr's dedicated thread while the application runs.
 *  May use any library call (malloc, stdio, locks). */
#define CR_THREAD_CONTEXT 0x1
/** Run the callback in the registering thread's signal handler while the
 *  process is being stopped.  Only async-signal-safe calls are allowed. */
#define CR_SIGNAL_CONTEXT 0x2

/**
 * cr_register_callback -- register a checkpoint/restart callback.
 *
 * @func:  the callback.  It does its CHECKPOINT work, calls cr_checkpoint(),
 *         then does its CONTINUE or RESTART work depending on the result.  A
 *         callback that returns without calling cr_checkpoint() is treated as
 *         if it had called cr_checkpoint(0) just before returning.
 * @arg:   passed to @func unchanged.
 * @flags: exactly one of CR_THREAD_CONTEXT or CR_SIGNAL_CONTEXT.
 *
 * Returns: a non-negative callback id, or -1 with errno EINVAL (bad flags,
 * NULL func, cr_init() not called in this thread) or ENOMEM (too many
 * callbacks; the limit is 64).
 * Signal safety: not async-signal-safe.  Must not be called from a callback.
 *
 * From a library constructor: allowed, and the way a layer above libcr
 * (libcrpmpi) installs itself before main() runs.  The library must link
 * libcr (so that libcr is initialised first) and call cr_init() in its
 * constructor.  A CR_THREAD_CONTEXT callback finishes its CONTINUE or
 * RESTART work after the application's threads are released, so the
 * application may run before it is done: a library that must be ready
 * first makes its own entry points wait for it.
 */
cr_callback_id_t cr_register_callback(cr_callback_t func, void* arg, int flags);

/* ------------------------------------------------------------------------
 * The checkpoint point, called from a callback.
 * ------------------------------------------------------------------------ */

/** Flags for cr_checkpoint(). */
#define CR_CHECKPOINT_READY 0          /**< go ahead */
#define CR_CHECKPOINT_TEMP_FAILURE 0x1 /**< abort this checkpoint: CR_ETEMPFAIL */
#define CR_CHECKPOINT_PERM_FAILURE 0x2 /**< abort this checkpoint: CR_EPERMFAIL */

/**
 * cr_checkpoint -- take the checkpoint at this point of a callback.
 *
 * Must be called from inside a registered callback, at most once per
 * callback invocation.  It returns twice in the fork()/setjmp() sense: once
 * in the original process after the image is written (CONTINUE), and once in
 * each process restarted from that image (RESTART).
 *
 * @flags: CR_CHECKPOINT_READY, or one of the failure flags to cancel the
 *         checkpoint (the requester then sees CR_ETEMPFAIL or CR_EPERMFAIL).
 *
 * Returns: 0 on CONTINUE, a positive value (1) on RESTART, and a negative
 * value on failure (the checkpoint was cancelled or could not be written;
 * errno says why).  Test the result with the CR_IS_* macros below.
 * Errors: EINVAL if not called from a callback or called twice.
 * Signal safety: may be called from a CR_SIGNAL_CONTEXT callback.
 */
int cr_checkpoint(int flags);

#define CR_IS_FAILURE(rc) ((rc) < 0)
#define CR_IS_RESTART(rc) ((rc) > 0)
#define CR_IS_CONTINUE(rc) ((rc) == 0)

/* ------------------------------------------------------------------------
 * Critical sections: no checkpoint while one is open.
 * ------------------------------------------------------------------------ */

/**
 * cr_enter_cs / cr_leave_cs -- delay checkpoints around a critical section.
 *
 * While any thread holds a critical section, a requested checkpoint waits
 * (before running any callback) until all critical sections are left, or
 * until the request's timeout expires (then it fails with CR_ETEMPFAIL).
 * Sections nest, per process.
 *
 * @id: the value returned by cr_init() (kept for BLCR compatibility).
 * Returns: nothing.  Signal safety: async-signal-safe.
 */
void cr_enter_cs(cr_client_id_t id);
void cr_leave_cs(cr_client_id_t id);

/* ------------------------------------------------------------------------
 * Requesting a checkpoint (of oneself or of another libcr process).
 * ------------------------------------------------------------------------ */

/** What to checkpoint. */
typedef enum {
  CR_SCOPE_PROC = 1, /**< one process (cr_target; 0 means the caller) */
  /** crmpi extension: the whole MPI job the caller belongs to (run by
   *  crmpirun), into the job's default checkpoint folder, continuing.
   *  cr_target, cr_fd, cr_signal, cr_flags are ignored.  Needs a job
   *  handler (cr_set_job_request_handler(); libcrpmpi sets one in
   *  MPI_Init), else CR_ENOSUPPORT. */
  CR_SCOPE_JOB = 16,
} cr_scope_t;

/** What happens to the target after a successful checkpoint (cr_signal). */
#define CR_SIGNAL_NONE 0 /**< continue (default) */

/** cr_flags bits. */
#define CR_CHKPT_COMPRESS 0x1 /**< compress page data with zstd */

typedef struct cr_checkpoint_args {
  unsigned int cr_version; /**< CR_CHECKPOINT_ARGS_VERSION */
  cr_scope_t cr_scope;     /**< CR_SCOPE_PROC */
  pid_t cr_target;         /**< target PID; 0 = the calling process */
  int cr_fd;               /**< open, writable fd the image is written to */
  int cr_signal;           /**< signal the target gets after a successful
                                checkpoint (any signal number, e.g. SIGTERM),
                                or CR_SIGNAL_NONE.  SIGKILL and SIGSTOP act
                                before the target resumes; others after. */
  unsigned int cr_timeout; /**< seconds the target may take; 0 = no limit */
  unsigned int cr_flags;   /**< CR_CHKPT_* */
} cr_checkpoint_args_t;

#define CR_CHECKPOINT_ARGS_VERSION 1

/** Handle of a request in flight. */
typedef struct cr_checkpoint_handle {
  int fd;       /**< libcr-internal: connection to the target */
  pid_t target; /**< the target PID */
  int self;     /**< non-zero for a self-checkpoint */
} cr_checkpoint_handle_t;

/**
 * cr_set_job_request_handler -- name who takes CR_SCOPE_JOB requests.
 *
 * A layer above libcr that knows the process's job (libcrpmpi, under
 * crmpirun) registers @fn; cr_request_checkpoint() with CR_SCOPE_JOB then
 * calls @fn(@arg), which forwards the request to the job and returns 0, or
 * an errno value (then cr_request_checkpoint fails with it).  A later call
 * replaces the handler; NULL removes it.
 *
 * Returns: 0.
 * Signal safety: not async-signal-safe.  Thread-safe.
 */
typedef int (*cr_job_request_fn)(void* arg);
int cr_set_job_request_handler(cr_job_request_fn fn, void* arg);

/**
 * cr_initialize_checkpoint_args_t -- fill @args with defaults: this process,
 * CR_SCOPE_PROC, fd -1, no signal, no timeout, no flags.
 */
void cr_initialize_checkpoint_args_t(cr_checkpoint_args_t* args);

/**
 * cr_request_checkpoint -- start a checkpoint of cr_target.
 *
 * The request is handed to the target's libcr, which writes the image to
 * cr_fd (passed to it over a Unix socket) and fsyncs it.  The caller keeps
 * ownership of cr_fd; making the file name durable (rename, directory fsync)
 * is the caller's job, as cr_checkpoint(1) does.
 *
 * Returns: 0 and fills @handle, or -1 with errno:
 *   EINVAL        bad args (NULL, bad version or scope, cr_fd not open for writing)
 *   ESRCH         no process cr_target
 *   CR_ENOSUPPORT cr_target has no libcr loaded (no control socket)
 *   EPERM         the control socket of cr_target is held by another process
 *                 (nothing was sent to it), or its folder is not reachable
 * The target itself refuses a caller that may not checkpoint it (another
 * user, a setuid process, a non-dumpable one; root may): cr_poll_checkpoint
 * then fails with EPERM.
 * Signal safety: not async-signal-safe.
 */
int cr_request_checkpoint(const cr_checkpoint_args_t* args, cr_checkpoint_handle_t* handle);

/* With CR_SCOPE_JOB, cr_request_checkpoint() returns 0 once the job's
 * coordinator has the request, and cr_poll_checkpoint() on that handle
 * returns 1 at once: the job checkpoint itself follows asynchronously,
 * coordinated with every rank (crmpirun reports its outcome). */

/** cr_poll_checkpoint() failure returns (BLCR names). */
#define CR_POLL_CHKPT_ERR_PRE (-1) /**< failed before the image was complete */
#define CR_POLL_CHKPT_ERR_POST                      \
  (-2) /**< the image is complete; errno tells what \
            happened after (CR_ERESTARTED) */

/**
 * cr_poll_checkpoint -- wait for a requested checkpoint to finish.
 *
 * @handle:  from cr_request_checkpoint().
 * @timeout: NULL waits for ever (or until a signal interrupts the wait);
 *           otherwise the longest time to wait, as for select().
 *
 * Returns:
 *   > 0  the checkpoint is complete on cr_fd, and fsynced by the target
 *        (the number of processes checkpointed: 1).  With cr_signal SIGKILL
 *        or SIGSTOP the target answers before it syncs, since it will not
 *        run again: fsync cr_fd yourself (cr_checkpoint(1) always does).
 *        The handle is released.
 *   0    the timeout expired; poll again later.
 *   CR_POLL_CHKPT_ERR_PRE with errno:
 *        EINTR          a signal interrupted the wait; poll again
 *        CR_ETEMPFAIL   cancelled by a callback, or the target did not stop
 *                       in time; may work later
 *        CR_EPERMFAIL   cancelled by a callback for good
 *        EPERM          the target refused the caller (another user, changed
 *                       ids, not dumpable; root is never refused)
 *        ESRCH          the target died
 *        other          the error that stopped the image (ENOSPC, EIO ...)
 *   CR_POLL_CHKPT_ERR_POST with errno CR_ERESTARTED: this is a
 *        self-checkpoint and the caller is now running in a process restarted
 *        from it.
 * Signal safety: not async-signal-safe.
 */
int cr_poll_checkpoint(cr_checkpoint_handle_t* handle, struct timeval* timeout);

/**
 * cr_forget_checkpoint -- abandon a request: close the connection.  The
 * target finishes or aborts on its own.  Returns 0.
 */
int cr_forget_checkpoint(cr_checkpoint_handle_t* handle);

/* ------------------------------------------------------------------------
 * What the image leaves out (for layers above libcr).
 * ------------------------------------------------------------------------ */

/** How many fds may be excluded at once. */
#define CR_MAX_EXCLUDED_FDS 64

/**
 * cr_exclude_fd -- keep file descriptor @fd out of every later image.
 *
 * The fd is not saved at all (not even as a placeholder): in a restarted
 * process its number is free, and the caller makes whatever it needs again,
 * typically in a CR_THREAD_CONTEXT callback after cr_checkpoint() returned
 * > 0.  Meant for resources that belong to the machine rather than to the
 * program: libcrpmpi's channel to its agent is one.  The exclusion holds
 * for every later checkpoint until cr_include_fd(), and ends at a restart
 * (the fd no longer exists there).  A child made by fork() does not inherit
 * it.  Excluding an fd twice is harmless.
 *
 * Returns: 0, or -1 with errno:
 *   EBADF   @fd is not open
 *   ENOSPC  CR_MAX_EXCLUDED_FDS fds are excluded already
 * Signal safety: not async-signal-safe; must not be called from a
 * CR_SIGNAL_CONTEXT callback.  Thread-safe.
 */
int cr_exclude_fd(int fd);

/**
 * cr_include_fd -- undo cr_exclude_fd(): @fd is saved again from the next
 * checkpoint on.  Call it before closing an excluded fd whose number may be
 * reused.  Returns 0, or -1 with errno ENOENT if @fd was not excluded.
 * Signal safety: as cr_exclude_fd().
 */
int cr_include_fd(int fd);

/** How many memory ranges may be excluded at once. */
#define CR_MAX_EXCLUDED_RANGES 32

/**
 * cr_exclude_memory -- keep the pages of [@addr, @addr + @len) out of every
 * later image.
 *
 * @addr:  page-aligned; @len: > 0, rounded up to whole pages.
 *
 * Nothing of the range is saved: in a restarted process it is not mapped
 * at all, and the caller maps what it needs again (for libcrpmpi: the
 * channel to its new agent) in a callback after cr_checkpoint() returned
 * > 0.  A range need not be mapped when excluded; ranges may overlap.  The
 * exclusion holds for every later checkpoint until cr_include_memory(),
 * and ends at a restart.  Code and data the program needs after a restart
 * must never be excluded.
 *
 * Returns: 0, or -1 with errno:
 *   EINVAL  @addr not page-aligned, @len 0, or the range wraps
 *   ENOSPC  CR_MAX_EXCLUDED_RANGES ranges are excluded already
 * Signal safety: not async-signal-safe; not from a CR_SIGNAL_CONTEXT
 * callback.  Thread-safe.
 */
int cr_exclude_memory(void* addr, size_t len);

/**
 * cr_include_memory -- undo cr_exclude_memory(@addr, @len) (the same
 * arguments).  Returns 0, or -1 with errno ENOENT if no such range is
 * excluded.  Signal safety: as cr_exclude_memory().
 */
int cr_include_memory(void* addr, size_t len);

/* ------------------------------------------------------------------------
 * Introspection.
 * ------------------------------------------------------------------------ */

/** The last image this process wrote (cr_get_checkpoint_info()). */
typedef struct cr_checkpoint_info {
  unsigned long long image_bytes;  /**< its size in bytes */
  unsigned long long image_digest; /**< its digest (include/crmpi/image.h): names
                                        the whole image, as cr_info prints it */
} cr_checkpoint_info_t;

/**
 * cr_get_checkpoint_info -- size and digest of the last image this process
 * wrote, for a manifest.
 *
 * Valid in the CONTINUE half of a CR_THREAD_CONTEXT callback (after its
 * cr_checkpoint() returned 0): the image is then complete and fsynced
 * (giving it its durable name is the requester's job).  A requester in
 * another process gets the same digest from cr_checkpoint(1)'s message or
 * by running cr_info on the image.
 *
 * Returns: 0, or -1 with errno ENOENT if this process has written no image
 * (or is a restarted copy that has not written one since).
 * Signal safety: async-signal-safe.
 */
int cr_get_checkpoint_info(cr_checkpoint_info_t* info);

/** Non-zero when this process was restarted from an image (at least once). */
int cr_is_restarted(void);

#ifdef __cplusplus
}
#endif

#endif /* CRMPI_LIBCR_H */
