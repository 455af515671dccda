// Timings of gpu_check (gpu_check_timing.cpp): the standard table of both precisions and the
// side-by-side comparison of the exact kernels.
#pragma once
#include <string>
#include <vector>

#include "core/model.h"
#include "cuda/fused/local_fused.cuh"
#include "gpu_check_support.h"

// Kernel-only and enhance() timings of both precisions with the backends' default exact kernel.
// `quick` keeps to 1920x1080 and fewer runs.
void runTimings(gpucheck::Log& log, const flwnet::ModelWeights& w, bool quick);

// One exact kernel's results for the closing comparison table.
struct ExactKernelReport {
  flwnet::cuda::ExactKernel kernel;
  int failures = 0;             // failed checks of the backend that used this kernel
  int checks = 0;
  std::vector<double> kernelMs;  // one per exactComparisonCases() entry
};

struct ComparisonCase {
  int width;
  int height;
  int batch;
};
std::vector<ComparisonCase> exactComparisonCases();

// Kernel-only time (CUDA events) of each report's kernel on every comparison case.
void timeExactKernels(std::vector<ExactKernelReport>& reports, const flwnet::ModelWeights& w, bool quick);

// Prints the comparison table and adds it to the JSON output as "exact_kernels".
void reportExactKernels(gpucheck::Log& log, const std::vector<ExactKernelReport>& reports);
