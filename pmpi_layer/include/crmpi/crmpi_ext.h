/* crmpi/crmpi_ext.h: libcrpmpi extensions beyond the MPI API.
 *
 * Purpose: expose the accounting that the coordinated job checkpoint relies
 * on to tests and tools, and let an application ask for a job checkpoint.
 * Programs that must also run on a plain MPI
 * should look the functions up with dlsym(RTLD_DEFAULT, ...) and skip the
 * checks when they are absent.
 *
 * Thread safety: like MPI calls (MPI_THREAD_SERIALIZED). Signal safety: none.
 */
#ifndef CRMPI_EXT_H
#define CRMPI_EXT_H

#include <mpi.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* crmpi_comm_id: the job-unique id of communicator `comm`.
 * Every member of a communicator gets the same id, without any message;
 * communicators created by different calls (including dups of the same
 * communicator) get different ids. MPI_COMM_WORLD is 1, MPI_COMM_SELF is 2.
 * Returns: the id, or 0 if `comm` is not a valid communicator. */
uint64_t crmpi_comm_id(MPI_Comm comm);

/* crmpi_comm_counters: how many collectives this process entered on `comm`
 * (*coll), and how many point-to-point messages it sent on / received from it
 * (*sent, *recvd; sends to and receives from MPI_PROC_NULL are not counted).
 * Any pointer may be NULL.
 * Returns: MPI_SUCCESS, or MPI_ERR_COMM for an invalid communicator. */
int crmpi_comm_counters(MPI_Comm comm, uint64_t* coll, uint64_t* sent, uint64_t* recvd);

/* Kinds of requests, for crmpi_request_record. */
enum { CRMPI_REQ_SEND = 1, CRMPI_REQ_RECV = 2, CRMPI_REQ_COLL = 3 };

/* crmpi_request_record: what libcrpmpi recorded about a request, to repost
 * or complete it after a restart: its kind (CRMPI_REQ_*), the id of its
 * communicator, and for a nonblocking collective its number among the
 * collectives entered on that communicator (the coll count right after it
 * was posted; the same on every member), else 0. Any pointer may be NULL.
 * Returns: MPI_SUCCESS, or MPI_ERR_REQUEST for a null or invalid request. */
int crmpi_request_record(MPI_Request req, int* kind, uint64_t* comm_id, uint64_t* coll_seq);

/* crmpi_request_checkpoint: ask for a checkpoint of the whole job -- every
 * rank, into the job's default checkpoint folder, continuing afterwards --
 * as `cr_checkpoint <PID of crmpirun>` would.  The request goes to the job's
 * coordinator and this call returns; the checkpoint itself follows
 * asynchronously, coordinated with the other ranks (this rank's next MPI
 * calls may wait for it).  crmpirun reports its outcome on stderr.  This
 * rank's MPI_Finalize does not return before that checkpoint is over (or was
 * refused, e.g. because another one was in progress), so a program may ask
 * and then finish: the job is captured before any rank leaves MPI.
 * Returns: MPI_SUCCESS once the coordinator has the request; MPI_ERR_OTHER
 * if the job has no coordinator (not started by crmpirun) or lost it. */
int crmpi_request_checkpoint(void);

#ifdef __cplusplus
}
#endif

#endif /* CRMPI_EXT_H */
