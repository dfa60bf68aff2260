// TSan build only (linked into every executable by CMake when RWKV_TSAN is on): tells
// ThreadSanitizer the one ordering guarantee of gRPC that it cannot see for itself.
//
// gRPC's C core is Debian's, not instrumented, and hands a batch of operations from the thread
// that starts it to the thread that completes it through lock-free queues TSan knows nothing of.
// Its C++ layer is inline header code, compiled (instrumented) into our binaries on both sides,
// as is our own code around it (a reactor's StartWrite and OnWriteDone, a response message
// serialized on one thread and freed on the other). Without this, every such pair is reported.
// gRPC's API guarantees that a batch's completion (its tag returned by grpc_completion_queue_next
// or _pluck, or its callback functor run) happens after grpc_call_start_batch was called with it;
// this file states exactly that, by interposing those functions:
//   grpc_call_start_batch(tag)        -> release on the tag, then the real call
//   grpc_completion_queue_next/pluck  -> the real call, then acquire on the returned tag
//   callback functor tags             -> started with a wrapper functor that acquires, then runs
//                                        the original
// Nothing else is ordered, so races around gRPC (our data, gRPC's inline code) stay visible.
// Compiled without TSan instrumentation: its own reads of gRPC's objects are not to be checked.
#include <dlfcn.h>
#include <grpc/grpc.h>
#include <link.h>
#include <sanitizer/tsan_interface.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace {

template <typename F>
F Real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

// Address ranges of executable code in the loaded modules (read once; gRPC dlopens nothing).
std::vector<std::pair<uintptr_t, uintptr_t>> CodeRanges() {
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* out = static_cast<std::vector<std::pair<uintptr_t, uintptr_t>>*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
          if (phdr.p_type == PT_LOAD && (phdr.p_flags & PF_X) != 0) {
            const uintptr_t begin = info->dlpi_addr + phdr.p_vaddr;
            out->emplace_back(begin, begin + phdr.p_memsz);
          }
        }
        return 0;
      },
      &ranges);
  return ranges;
}

bool IsCode(uintptr_t address) {
  static const auto* const ranges = new std::vector<std::pair<uintptr_t, uintptr_t>>(CodeRanges());
  for (const auto& [begin, end] : *ranges) {
    if (address >= begin && address < end) return true;
  }
  return false;
}

// A callback completion queue's tag is a grpc_completion_queue_functor, whose first field is a
// function pointer; the C++ layer's other tags are objects with a vtable (a pointer to data).
bool IsFunctor(void* tag) {
  constexpr uintptr_t kLowestObject = 4096;  // below: a number used as a tag, not an object
  return reinterpret_cast<uintptr_t>(tag) >= kLowestObject && IsCode(reinterpret_cast<uintptr_t>(
                               static_cast<grpc_completion_queue_functor*>(tag)->functor_run));
}

struct OrderedFunctor : grpc_completion_queue_functor {
  grpc_completion_queue_functor* inner;
};

void RunOrdered(grpc_completion_queue_functor* functor, int ok) {
  auto* ordered = static_cast<OrderedFunctor*>(functor);
  __tsan_acquire(ordered);
  grpc_completion_queue_functor* inner = ordered->inner;
  delete ordered;
  inner->functor_run(inner, ok);
}

}  // namespace

extern "C" {

grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops, void* tag,
                                      void* reserved) {
  static const auto real = Real<decltype(&grpc_call_start_batch)>("grpc_call_start_batch");
  if (IsFunctor(tag)) {
    auto* inner = static_cast<grpc_completion_queue_functor*>(tag);
    auto* ordered = new OrderedFunctor{};
    ordered->functor_run = &RunOrdered;
    ordered->inlineable = inner->inlineable;
    ordered->inner = inner;
    __tsan_release(ordered);
    const grpc_call_error error = real(call, ops, nops, ordered, reserved);
    if (error != GRPC_CALL_OK) delete ordered;  // no completion will come
    return error;
  }
  __tsan_release(tag);
  return real(call, ops, nops, tag, reserved);
}

grpc_event grpc_completion_queue_next(grpc_completion_queue* cq, gpr_timespec deadline,
                                      void* reserved) {
  static const auto real =
      Real<decltype(&grpc_completion_queue_next)>("grpc_completion_queue_next");
  const grpc_event event = real(cq, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE) __tsan_acquire(event.tag);
  return event;
}

grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq, void* tag,
                                       gpr_timespec deadline, void* reserved) {
  static const auto real =
      Real<decltype(&grpc_completion_queue_pluck)>("grpc_completion_queue_pluck");
  const grpc_event event = real(cq, tag, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE) __tsan_acquire(event.tag);
  return event;
}

}  // extern "C"
