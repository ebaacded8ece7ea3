#include "scheduler.h"

#include "arch/switch.h"

namespace stackful {

Scheduler::Scheduler() : v8_(&fibers_) {
  Fiber* root = fibers_.root();
  root->scheduler = this;
  root->is_root = true;
  root->state = FiberState::kRunning;
  slots_.push_back(root);
}

Scheduler::~Scheduler() {
  // Only reached once V8 is done with this thread (see binding.cc): stacks of
  // abandoned suspended fibers can be unmapped now, nothing scans them anymore.
  RecycleDead();
  for (Fiber* fiber : slots_) {
    if (fiber != nullptr && !fiber->is_root) delete fiber;
  }  // their stacks go with pool_'s slabs
  for (Fiber* fiber : spare_) delete fiber;
}

Handle Scheduler::NewFiber(size_t stack_size, bool inherit_context) {
  Fiber* fiber;
  if (!spare_.empty()) {
    fiber = spare_.back();
    spare_.pop_back();
  } else {
    fiber = new Fiber();
    fiber->scheduler = this;
  }
  if (!free_slots_.empty()) {
    fiber->slot = free_slots_.back();
    free_slots_.pop_back();
    slots_[fiber->slot] = fiber;
  } else {
    fiber->slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(fiber);
  }
  fiber->state = FiberState::kNew;
  fiber->stack_size = StackPool::RoundToPages(stack_size);
  fiber->resumer = nullptr;
  if (inherit_context) v8_.InheritContext(fiber);
  stats_.created++;
  return HandleOf(fiber);
}

// The slot is free again, under a new generation; the object is kept for reuse.
void Scheduler::Release(Fiber* fiber) {
  v8_.Forget(fiber);
  slots_[fiber->slot] = nullptr;
  free_slots_.push_back(fiber->slot);
  fiber->generation = fiber->generation == kMaxGeneration ? 0 : fiber->generation + 1;
  fiber->stack = Stack();
  fiber->sp = nullptr;
  fiber->gc_ran_here = false;  // a GC on its last stack says nothing of the next
  fiber->successor = nullptr;
  if (last_target_ == fiber) last_target_ = nullptr;
  spare_.push_back(fiber);
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s = stats_;
  s.live = fibers_.count();
  s.suspended = s.live - (fibers_.current()->is_root ? 0 : 1);
  s.stack_bytes_reserved = pool_.bytes_reserved();
  s.stack_bytes_pooled = pool_.bytes_pooled();
  s.guard_pages = StackPool::guard_kind();
  return s;
}

Status Scheduler::Prepare(Fiber* target) {
  if (target->state != FiberState::kNew || target->stack) return Status::kOk;  // already has its stack
  target->stack = pool_.Acquire(target->stack_size);
  if (!target->stack) {
    Release(target);  // its handle is stale now: JS makes a new one to retry
    return Status::kStackAlloc;
  }
  target->sp = stackful_make_context(v8_.EntryTop(target), &Scheduler::Entry);
  target->v8.thread_id = 0;
  fibers_.Link(target);
  return Status::kOk;
}

void Scheduler::Discard(Fiber* fiber) {
  if (fiber->state == FiberState::kNew) Release(fiber);
}

Status Scheduler::Switch(Fiber* target) {
  if (target->state == FiberState::kDead) return Status::kFiberDead;
  if (target == fibers_.current_) return Status::kFiberRunning;
  Status status = Prepare(target);
  if (status != Status::kOk) return status;
  Transfer(fibers_.current_, target);
  return Status::kOk;
}

Status Scheduler::SetNext(Fiber* next) {
  if (next->state == FiberState::kDead) return Status::kFiberDead;
  if (next == fibers_.current_) return Status::kFiberRunning;
  // A parent that starts as its child finishes takes its stack now, while JS
  // can still hear that there is none: Finish() has nobody to tell.
  Status status = Prepare(next);
  if (status != Status::kOk) return status;
  next_ = next;
  return Status::kOk;
}

// With many fibers parked, a switch lands on a stack and a V8 archive that
// left the cache long ago: most of the time of a sleep(0) among 1,000 went
// to those misses. Fibers taking turns (the hub's ready queue, resuming a
// batch in order) run in the same order round after round, so each fiber
// remembers which one ran after it, and a switch to `to` starts loading what
// the next switch will need while `to` runs: the saved frames and V8 archive
// of `to`'s successor, and the Fiber record of the one after. A wrong guess
// costs a few useless cache loads, never a fault (a prefetch of an address
// that is not mapped is dropped): the record may be a finished fiber's.
// With few fibers alive everything stays in the cache, and the loads cost
// more than they save (a ping-pong round trip took 10 % longer): none then.
void Scheduler::Prefetch(const Fiber* from, Fiber* to) {
  // Below kPrefetchFrom nothing is recorded either: a ping-pong pays one
  // compare per switch. Links recorded before the count fell are only guesses.
  if (stats_.live < kPrefetchFrom || to->is_root) return;
  if (last_target_ != to) {
    if (last_target_ != nullptr) last_target_->successor = to;
    last_target_ = to;
  }
  const Fiber* next = to->successor;
  if (next == nullptr || next == from || next == to || next->state != FiberState::kSuspended) return;
  // What resuming `next` reads first: its frames just above the saved stack
  // pointer (2.5 KB for a fiber parked in Fiber.yield()), its archive.
  const char* sp = static_cast<const char*>(next->sp);
  const char* top = next->stack.high;
  // Measured on sleep(0) among 1,000 fibers: 512 bytes of each cut a switch
  // by about a sixth; 3 KB of frames made it slower than none (so many
  // outstanding loads stall the switch itself). 512 bytes hold the
  // archive whole (496 bytes on Node 20) and the frames of the switch
  // itself, up to the return into JS.
  constexpr size_t kLine = 64;
  constexpr size_t kFrames = 512;
  constexpr size_t kArchive = 512;
  for (const char* p = sp; p < sp + kFrames && p < top; p += kLine) __builtin_prefetch(p, 1, 3);
  if (const char* data = next->v8.archived.data) {
    for (const char* p = data; p < data + kArchive; p += kLine) __builtin_prefetch(p, 1, 3);
  }
  if (const Fiber* after = next->successor) {
    const char* record = reinterpret_cast<const char*>(after);
    for (size_t i = 0; i < sizeof(Fiber); i += kLine) __builtin_prefetch(record + i, 0, 3);
  }
}

void Scheduler::Transfer(Fiber* from, Fiber* to) {
  Prefetch(from, to);
  v8_.Suspend(from, to);
  from->state = FiberState::kSuspended;
  to->resumed |= to->state == FiberState::kSuspended;
  to->state = FiberState::kRunning;
  to->resumer = from;
  fibers_.current_ = to;
  stackful_switch(&from->sp, to->sp, to);
  // Some fiber switched back into `from`.
  TrimParked(from->resumer);
  RecycleDead();
  v8_.Resume(from);
}

// A GC that ran on `parked`'s stack touched pages far below its frames;
// now that it is parked, everything below its saved stack pointer is dead.
void Scheduler::TrimParked(Fiber* parked) {
  if (parked == nullptr || !parked->gc_ran_here) return;
  parked->gc_ran_here = false;
  if (parked->state == FiberState::kSuspended) StackPool::TrimBelow(parked->stack, static_cast<char*>(parked->sp));
}

void Scheduler::RecycleDead() {
  if (dead_ == nullptr) return;
  // A fiber that never suspended mid-way (the common short-lived one) is
  // not asked about its depth: that costs a system call.
  pool_.Release(dead_->stack, dead_->resumed);
  dead_->resumed = false;
  Release(dead_);
  dead_ = nullptr;
}

void Scheduler::Entry(void* arg) {
  Fiber* self = static_cast<Fiber*>(arg);
  Scheduler* scheduler = self->scheduler;
  scheduler->TrimParked(self->resumer);
  scheduler->RecycleDead();
  scheduler->next_ = nullptr;
  scheduler->v8_.Run(self);
  scheduler->Finish(self);
}

void Scheduler::Finish(Fiber* self) {
  // The body has returned and V8 is released. Go to the fiber the body chose,
  // else back to whoever resumed us last, else to the root.
  Fiber* next = next_;
  next_ = nullptr;
  auto usable = [&](Fiber* f) {
    return f != nullptr && f != self && f->state != FiberState::kDead &&
           Prepare(f) == Status::kOk;
  };
  if (!usable(next)) next = usable(self->resumer) ? self->resumer : fibers_.root();

  fibers_.Unlink(self);
  self->state = FiberState::kDead;
  stats_.finished++;
  dead_ = self;  // our stack is still in use until the switch below

  Prefetch(self, next);
  v8_.Handoff(next);
  next->state = FiberState::kRunning;
  next->resumer = self;
  fibers_.current_ = next;
  void* unused;
  stackful_switch(&unused, next->sp, next);
  __builtin_trap();  // a dead fiber is never switched into
}

}  // namespace stackful
