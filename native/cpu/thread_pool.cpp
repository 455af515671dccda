#include "thread_pool.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace flwnet::cpu {

int resolveThreadCount(int requested) {
  if (requested < 0) throw Error(ErrorCode::InvalidArgument, "threads must be >= 0, got " + std::to_string(requested));
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

ThreadPool::ThreadPool(int workers) : workerCount_(std::max(1, workers)) {
  for (int w = 1; w < workerCount_; ++w) threads_.emplace_back([this, w]() { workerLoop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ThreadPool::drain(int worker) {
  for (;;) {
    const size_t unit = nextUnit_.fetch_add(1);
    if (unit >= units_) return;
    try {
      (*task_)(unit, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      nextUnit_.store(units_);  // hand out nothing more
      return;
    }
  }
}

void ThreadPool::workerLoop(int worker) {
  unsigned long seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&]() { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    drain(worker);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_ == 0) finished_.notify_all();
    }
  }
}

void ThreadPool::run(size_t units, const std::function<void(size_t, int)>& task) {
  if (units == 0) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    units_ = units;
    nextUnit_.store(0);
    error_ = nullptr;
    busy_ = static_cast<int>(threads_.size());
    ++generation_;
  }
  wake_.notify_all();
  drain(0);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&]() { return busy_ == 0; });
    error = error_;
    task_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace flwnet::cpu
