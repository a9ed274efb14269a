import Imaging
import XCTest

final class BenchmarkTests: XCTestCase {
    func testBenchmarkReportsBothDecodePaths() throws {
        let report = try ImagingBenchmark.run(iterations: 1)
        print(report)
        XCTAssertTrue(report.contains("full-size decode + preprocess"), report)
        XCTAssertTrue(report.contains("DCT-scaled decode to 500x375"), report)
    }
}
