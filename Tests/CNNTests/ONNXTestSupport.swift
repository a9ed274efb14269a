import CNN
import Foundation
// The ONNX writer lives in TestSupport, shared with the service tests; every file here uses it.
@_exported import TestSupport
import XCTest

/// Locations of test data: the shared folder beside the repository, and Debian's ONNX test data.
enum ONNXTestData {
    /// `shared/data` beside the checkout or one of its ancestors.
    static var shared: URL? {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("shared/data")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    static let backend = URL(fileURLWithPath: "/usr/share/libonnx-testdata/data")

    static func sharedFolder(_ name: String) throws -> URL {
        guard let url = shared?.appendingPathComponent(name), FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("shared/data/\(name) not found beside the repository")
        }
        return url
    }
}

/// Asserts |actual - expected| <= atol + rtol * |expected| elementwise, shapes equal.
func assertClose(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-3, atol: Float = 1e-7,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "shape \(message)", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    if let bad = mismatch(actual, expected, rtol: rtol, atol: atol) {
        XCTFail("\(message): element \(bad) is \(actual.scalars[bad]), expected \(expected.scalars[bad])", file: file, line: line)
    }
}

/// The first element out of tolerance, or nil.
func mismatch(_ actual: Tensor, _ expected: Tensor, rtol: Float, atol: Float) -> Int? {
    guard actual.count == expected.count else { return 0 }
    return zip(actual.scalars, expected.scalars).enumerated().first { _, pair in
        let (a, e) = pair
        if e.isNaN { return !a.isNaN }
        if e.isInfinite { return a != e }
        return !(abs(a - e) <= atol + rtol * abs(e))
    }?.offset
}
