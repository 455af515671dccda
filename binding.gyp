{
  "targets": [
    {
      "target_name": "flwnet_cpu_avx512",
      "type": "static_library",
      "sources": ["<!@(node scripts/list-sources.js native/cpu _avx512.cpp)", "<!@(node scripts/list-sources.js native/train _avx512.cpp)"],
      "include_dirs": ["native"],
      "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-fexceptions", "-fno-math-errno",
                    "-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"]
    },
    {
      "target_name": "flwnet_cpu_avx2",
      "type": "static_library",
      "sources": ["<!@(node scripts/list-sources.js native/cpu _avx2.cpp)", "<!@(node scripts/list-sources.js native/train _avx2.cpp)"],
      "include_dirs": ["native"],
      "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-fexceptions", "-fno-math-errno", "-mavx2", "-mfma", "-mf16c"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"]
    },
    {
      "target_name": "flwnet",
      "dependencies": ["flwnet_cpu_avx512", "flwnet_cpu_avx2"],
      "sources": [
        "<!@(node scripts/list-sources.js native/core .cpp)",
        "<!@(node scripts/list-sources.js native/cpu .cpp --generic)",
        "<!@(node scripts/list-sources.js native/train .cpp --generic)",
        "<!@(node scripts/list-sources.js native/addon .cpp)"
      ],
      "include_dirs": ["native", "<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "FLWNET_WITH_CUDA=0"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-frtti", "-fno-math-errno", "-Wall"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "ldflags": ["-pthread"]
    }
  ]
}
