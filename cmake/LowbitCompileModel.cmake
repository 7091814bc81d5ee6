#===- LowbitCompileModel.cmake - compile a model as a build step ---------===#
#
# lowbit_compile_model(<name>
#     CHECKPOINT <file>            GGUF, .safetensors (or its directory), llama2.c .bin
#     [SCHEME <scheme>]            a quantization pipeline, e.g. w4a8 or
#                                  "w4ax{block-size=32 group-size=32}"
#     [CALIBRATION <file>]         calibration statistics (w4ax schemes)
#     [TENSOR_PARALLEL <n>]        shard for n ranks before quantizing
#     [GPU <sm_80|sm_89|sm_90>]    also write the GPU kernels as PTX
#     [CPU <x86_64|aarch64>]       also write a model artifact for the CPU
#     [CPU_NAME <llvm cpu>]        the CPU to tune for (lowbit-compile --cpu)
#     [OUTPUT_DIRECTORY <dir>])    default: the current binary directory
#
# adds a target <name> (built by default) that imports the checkpoint, runs
# the passes and writes <name>.mlir, with GPU <name>.ptx and with CPU
# <name>.lbm (the artifact the runtime, lowbit::runtime, runs). The outputs
# are rebuilt when the checkpoint, the calibration file or the tools change;
# their paths are the target's LOWBIT_MODULE, LOWBIT_PTX and LOWBIT_ARTIFACT
# properties.
#
#===----------------------------------------------------------------------===#

function(lowbit_compile_model name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG ""
    "CHECKPOINT;SCHEME;CALIBRATION;TENSOR_PARALLEL;GPU;CPU;CPU_NAME;OUTPUT_DIRECTORY"
    "")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
      "lowbit_compile_model(${name}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_CHECKPOINT)
    message(FATAL_ERROR "lowbit_compile_model(${name}) needs CHECKPOINT")
  endif()
  if(NOT ARG_OUTPUT_DIRECTORY)
    set(ARG_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endif()

  set(passes "")
  if(ARG_TENSOR_PARALLEL)
    list(APPEND passes "lowbit-tensor-parallel{tp=${ARG_TENSOR_PARALLEL}}")
  endif()
  set(depends ${ARG_CHECKPOINT} lowbit::lowbit-import lowbit::lowbit-opt)
  if(ARG_SCHEME)
    # "name{options}": the pipeline's name and its options.
    string(FIND "${ARG_SCHEME}" "{" brace)
    if(brace EQUAL -1)
      set(scheme "${ARG_SCHEME}")
      set(options "")
    else()
      string(SUBSTRING "${ARG_SCHEME}" 0 ${brace} scheme)
      math(EXPR first "${brace} + 1")
      string(SUBSTRING "${ARG_SCHEME}" ${first} -1 options)
      string(REGEX REPLACE "}$" "" options "${options}")
    endif()
    if(ARG_CALIBRATION)
      string(APPEND options " calibration=${ARG_CALIBRATION}")
      list(APPEND depends ${ARG_CALIBRATION})
    endif()
    string(STRIP "${options}" options)
    if(options)
      list(APPEND passes "lowbit-${scheme}{${options}}")
    else()
      list(APPEND passes "lowbit-${scheme}")
    endif()
  endif()
  list(JOIN passes "," pipeline)

  set(imported ${ARG_OUTPUT_DIRECTORY}/${name}.imported.mlir)
  set(module ${ARG_OUTPUT_DIRECTORY}/${name}.mlir)
  add_custom_command(OUTPUT ${module}
    COMMAND lowbit::lowbit-import ${ARG_CHECKPOINT} -o ${imported}
    COMMAND lowbit::lowbit-opt ${imported}
            "--pass-pipeline=builtin.module(${pipeline})" -o ${module}
    DEPENDS ${depends}
    COMMENT "lowbit: compiling ${ARG_CHECKPOINT} to ${name}.mlir"
    VERBATIM)
  set(outputs ${module})
  set(ptx "")
  if(ARG_GPU)
    set(ptx ${ARG_OUTPUT_DIRECTORY}/${name}.ptx)
    add_custom_command(OUTPUT ${ptx}
      COMMAND lowbit::lowbit-compile ${module} --target=${ARG_GPU} -o ${ptx}
      DEPENDS ${module} lowbit::lowbit-compile
      COMMENT "lowbit: generating ${ARG_GPU} kernels for ${name}"
      VERBATIM)
    list(APPEND outputs ${ptx})
  endif()
  set(artifact "")
  if(ARG_CPU)
    set(artifact ${ARG_OUTPUT_DIRECTORY}/${name}.lbm)
    set(cpu_name "")
    if(ARG_CPU_NAME)
      set(cpu_name --cpu=${ARG_CPU_NAME})
    endif()
    add_custom_command(OUTPUT ${artifact}
      COMMAND lowbit::lowbit-compile ${module} --target=${ARG_CPU} ${cpu_name}
              -o ${artifact}
      DEPENDS ${module} lowbit::lowbit-compile
      COMMENT "lowbit: compiling ${name} for ${ARG_CPU}"
      VERBATIM)
    list(APPEND outputs ${artifact})
  endif()
  add_custom_target(${name} ALL DEPENDS ${outputs})
  set_target_properties(${name} PROPERTIES
    LOWBIT_MODULE "${module}" LOWBIT_PTX "${ptx}" LOWBIT_ARTIFACT "${artifact}")
endfunction()
