import CNN
import Foundation
import XCTest

/// OpenBLAS must run kernels as wide as the CPU's vectors, even on a CPU newer than the
/// library (which, left alone, falls back to its SSE3 kernels). The widths are read here from
/// the kernel's own report of the CPU, independently of the engine.
final class BLASKernelsTests: XCTestCase {
    func testKernelsAreAsWideAsTheCPU() throws {
        let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        guard let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("/proc/cpuinfo lists no flags")
        }
        let flags = Set(line.split(separator: " ").map(String.init))
        let core = BLASKernels.coreName.lowercased()
        if ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy(flags.contains) {
            XCTAssert(["skylakex", "cooperlake", "sapphirerapids"].contains(core),
                      "an AVX-512 CPU runs OpenBLAS's \(core) kernels")
        } else if flags.isSuperset(of: ["avx2", "fma"]) {
            XCTAssert(["haswell", "zen", "excavator", "skylakex", "cooperlake", "sapphirerapids"].contains(core),
                      "an AVX2 CPU runs OpenBLAS's \(core) kernels")
        } else {
            throw XCTSkip("a CPU without AVX2")
        }
    }
}
