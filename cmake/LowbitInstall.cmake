#===- LowbitInstall.cmake - install rules and the CMake package ----------===#
#
# `cmake --install` puts lowbit's headers (with the generated .inc files),
# libraries, tools, hardware models, the embedded model and a CMake package
# in a prefix; find_package(lowbit CONFIG) then gives lowbit::compiler,
# lowbit::runtime, the tools as imported executables and
# lowbit_compile_model().
#
#===----------------------------------------------------------------------===#

include(CMakePackageConfigHelpers)

set(LOWBIT_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/lowbit)
set(LOWBIT_COMPILER_LIBRARIES
  LowBitAnalysis LowBitCAPI LowBitCalibration LowBitCheckpoint LowBitCPUTarget
  LowBitIR LowBitImport LowBitReference LowBitToCPU LowBitToNVGPU LowBitTokenizer
  LowBitTransforms)
set(LOWBIT_TOOLS lowbit-compile lowbit-import lowbit-opt lowbit-run)

# One target for the compiler libraries, whose users also need MLIR's and
# LLVM's headers (added by the package configuration file).
add_library(LowBitCompiler INTERFACE)
set_target_properties(LowBitCompiler PROPERTIES EXPORT_NAME compiler)
target_link_libraries(LowBitCompiler INTERFACE ${LOWBIT_COMPILER_LIBRARIES})
target_include_directories(LowBitCompiler INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set_target_properties(LowBitRuntime PROPERTIES EXPORT_NAME runtime)

# The names the package gives, in the build tree too, so that
# lowbit_compile_model() works in both.
add_library(lowbit::compiler ALIAS LowBitCompiler)
add_library(lowbit::runtime ALIAS LowBitRuntime)
foreach(tool ${LOWBIT_TOOLS})
  add_executable(lowbit::${tool} ALIAS ${tool})
endforeach()
include(${PROJECT_SOURCE_DIR}/cmake/LowbitCompileModel.cmake)

# Installed tools find libMLIR.so where the LLVM packages put it.
foreach(tool ${LOWBIT_TOOLS})
  set_property(TARGET ${tool} APPEND PROPERTY INSTALL_RPATH ${LLVM_LIBRARY_DIR})
endforeach()

install(TARGETS LowBitCompiler LowBitRuntime ${LOWBIT_COMPILER_LIBRARIES}
                ${LOWBIT_TOOLS} lowbit-generate-tokens
  EXPORT lowbitTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT lowbitTargets NAMESPACE lowbit::
  DESTINATION ${LOWBIT_PACKAGE_DIR})

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/lowbit
                  ${PROJECT_SOURCE_DIR}/include/lowbit-c
                  ${PROJECT_SOURCE_DIR}/runtime/include/lowbit
                  ${PROJECT_SOURCE_DIR}/runtime/include/lowbit-c
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/lowbit
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.inc" PATTERN "CMakeFiles" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/models/austen.gguf
  DESTINATION ${CMAKE_INSTALL_DATADIR}/lowbit/models)

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/lowbitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/${LOWBIT_PACKAGE_DIR}/lowbitConfig.cmake
  INSTALL_DESTINATION ${LOWBIT_PACKAGE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/${LOWBIT_PACKAGE_DIR}/lowbitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/${LOWBIT_PACKAGE_DIR}/lowbitConfig.cmake
  ${PROJECT_BINARY_DIR}/${LOWBIT_PACKAGE_DIR}/lowbitConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/LowbitCompileModel.cmake
  DESTINATION ${LOWBIT_PACKAGE_DIR})
