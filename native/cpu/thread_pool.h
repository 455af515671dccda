// A fixed set of worker threads owned by a backend. run() hands out work units dynamically; the
// calling thread works too (as worker 0), so a pool of N workers keeps N threads busy.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flwnet::cpu {

// The number of workers for a `threads` option: itself when positive, the processor's hardware
// threads for 0; a negative count is an InvalidArgument error.
int resolveThreadCount(int requested);

class ThreadPool {
 public:
  explicit ThreadPool(int workers);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return workerCount_; }

  // Calls task(unit, worker) for unit = 0..units-1, worker in [0, size()). Returns when all are
  // done; the first exception thrown stops the handing out of further units and is rethrown here.
  // Not reentrant: one run() at a time.
  void run(size_t units, const std::function<void(size_t unit, int worker)>& task);

 private:
  void workerLoop(int worker);
  void drain(int worker);

  int workerCount_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  const std::function<void(size_t, int)>* task_ = nullptr;
  size_t units_ = 0;
  std::atomic<size_t> nextUnit_{0};
  int busy_ = 0;             // helper threads still inside the current job
  unsigned long generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace flwnet::cpu
