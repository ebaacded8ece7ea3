{
  "targets": [
    {
      "target_name": "stackful",
      "sources": [
        "native/async_context.cc",
        "native/binding.cc",
        "native/elf_symbols.cc",
        "native/hot_calls.cc",
        "native/scheduler.cc",
        "native/stack.cc",
        "native/stack_scan.cc",
        "native/thread_archive.cc",
        "native/v8_lines.cc",
        "native/v8_probes.cc",
        "native/v8_state.cc",
        "native/wasm_code_gc.cc",
        "native/young_gc.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags": ["-fvisibility=hidden"],
      "cflags_cc": ["-std=c++20", "-fno-exceptions", "-O2", "-fvisibility=hidden"],
      "cflags_cc!": ["-std=gnu++17", "-std=c++17", "-fno-rtti"],
      "conditions": [
        ["OS=='linux' and target_arch=='x64'", {
          "sources": ["native/arch/switch_x86_64_sysv.S"]
        }],
        ["OS=='linux' and target_arch=='arm64'", {
          "sources": ["native/arch/switch_aarch64_aapcs64.S"]
        }]
      ]
    }
  ]
}
