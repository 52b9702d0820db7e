// crmpi/cma.h: copying between this process and another one's memory
// (cross-memory attach: process_vm_readv/writev).  Used by libcrpmpi (it
// reads a peer application's send buffer for a rendezvous, and an agent's
// vectors for a user reduction op) and by the agent; not tied to the
// channel.
//
// Thread safety: yes.  Signal safety: async-signal-safe (two syscalls).
#pragma once

#include <cstddef>
#include <cstdint>

namespace crmpi {

// vm_copy: copy n bytes between `local` (this process) and `remote` in
// process `pid` -- process_vm_writev when `write`, else process_vm_readv --
// resuming after partial transfers.
// Returns: true when all n bytes moved; false with errno (EFAULT for a
// transfer that stopped short, EPERM/ESRCH from the kernel) otherwise.
bool vm_copy(int pid, bool write, uint64_t remote, void* local, size_t n);

}  // namespace crmpi
