import HTTPServer
import XCTest

/// The request parser on its own, fed in every possible split.
final class ParserTests: XCTestCase {
    private func events(_ input: String, splitEvery step: Int = .max,
                        limits: HTTPRequestParser.Limits = .init()) throws -> [HTTPRequestParser.Event] {
        var parser = HTTPRequestParser(limits: limits)
        var result: [HTTPRequestParser.Event] = []
        let bytes = Array(input.utf8)
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + step)
            parser.append(contentsOf: bytes[offset..<end])
            offset = end
            while let event = try parser.next() {
                // Merge body pieces so that results do not depend on how input was split.
                if case .body(let piece) = event, case .body(let previous)? = result.last {
                    result[result.count - 1] = .body(previous + piece)
                } else {
                    result.append(event)
                }
            }
        } while offset < bytes.count
        return result
    }

    func testByteAtATimeMatchesOneShot() throws {
        let input = "POST /a?b=c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Y:  spaced value \r\n\r\n"
            + "4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: t\r\n\r\n"
            + "GET / HTTP/1.0\r\n\r\n"
        let whole = try events(input)
        for step in [1, 2, 3, 7, 64] {
            XCTAssertEqual(try events(input, splitEvery: step), whole, "split every \(step)")
        }
        XCTAssertEqual(whole.count, 5)
        guard case .head(let head) = whole[0], case .head(let second) = whole[3] else {
            return XCTFail("expected two heads: \(whole)")
        }
        XCTAssertEqual(head.method, "POST")
        XCTAssertEqual(head.target, "/a?b=c")
        XCTAssertEqual(head.framing, .chunked)
        XCTAssertEqual(head.values(named: "x-y"), ["spaced value"])
        XCTAssertEqual(whole[1], .body(ArraySlice("wikipedia".utf8)))
        XCTAssertEqual(whole[2], .end)
        XCTAssertEqual(second.minorVersion, 0)
        XCTAssertFalse(second.keepAlive)
    }

    func testContentLengthListOfEqualValues() throws {
        let result = try events("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc")
        guard case .head(let head) = result.first else { return XCTFail() }
        XCTAssertEqual(head.framing, .length(3))
        XCTAssertEqual(result.last, .end)
    }

    func testFailureIsSticky() throws {
        var parser = HTTPRequestParser()
        parser.append(contentsOf: Array("GET / HTTP/1.1\r\nHost : h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        XCTAssertThrowsError(try parser.next()) { XCTAssertEqual($0 as? HTTPParseError, .whitespaceBeforeColon) }
        XCTAssertThrowsError(try parser.next()) { XCTAssertEqual($0 as? HTTPParseError, .whitespaceBeforeColon) }
    }

    func testLimitsAreEnforcedBeforeTheWholeLineArrives() throws {
        var parser = HTTPRequestParser(limits: .init(maxRequestLineBytes: 32))
        parser.append(contentsOf: Array("GET /\(String(repeating: "a", count: 40))".utf8))
        XCTAssertThrowsError(try parser.next()) { XCTAssertEqual($0 as? HTTPParseError, .requestLineTooLong) }

        var headers = HTTPRequestParser(limits: .init(maxHeaderBytes: 64))
        headers.append(contentsOf: Array("GET / HTTP/1.1\r\nX: \(String(repeating: "b", count: 80))".utf8))
        XCTAssertThrowsError(try headers.next()) { XCTAssertEqual($0 as? HTTPParseError, .headerSectionTooLarge) }
    }

    func testBodyLimitCanBeChangedAfterTheHead() throws {
        var parser = HTTPRequestParser(limits: .init(maxBodyBytes: 4))
        parser.append(contentsOf: Array("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\n12345678".utf8))
        guard case .head? = try parser.next() else { return XCTFail() }
        parser.bodyLimit = 8
        XCTAssertEqual(try parser.next(), .body(ArraySlice("12345678".utf8)))
        XCTAssertEqual(try parser.next(), .end)
    }

    func testStateReporting() throws {
        var parser = HTTPRequestParser()
        XCTAssertFalse(parser.isMidRequest)
        parser.append(contentsOf: Array("GET / HT".utf8))
        XCTAssertNil(try parser.next())
        XCTAssertTrue(parser.isReadingHead)
        parser.append(contentsOf: Array("TP/1.1\r\nHost: h\r\n\r\n".utf8))
        guard case .head? = try parser.next() else { return XCTFail() }
        XCTAssertFalse(parser.isReadingHead)
        XCTAssertEqual(try parser.next(), .end)
        XCTAssertFalse(parser.isMidRequest)
    }
}
