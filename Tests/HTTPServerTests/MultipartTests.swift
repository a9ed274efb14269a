import Foundation
import HTTPServer
import XCTest

final class MultipartTests: XCTestCase {
    private func body(_ parts: [(headers: String, content: String)], boundary: String, preamble: String = "") -> Data {
        var text = preamble
        for part in parts {
            text += "--\(boundary)\r\n\(part.headers)\r\n\(part.content)\r\n"
        }
        text += "--\(boundary)--\r\nepilogue"
        return Data(text.utf8)
    }

    func testParsesFieldsAndFiles() throws {
        let data = body([
            ("Content-Disposition: form-data; name=\"top_k\"\r\n", "5"),
            ("Content-Disposition: form-data; name=\"image\"; filename=\"a b.png\"\r\nContent-Type: image/png\r\n", "PNGDATA\r\n--not-it"),
            ("Content-Disposition: form-data; name=\"image\"; filename=\"c.jpg\"\r\nContent-Type: image/jpeg\r\n", ""),
        ], boundary: "XyZ123", preamble: "ignored preamble\r\n")
        let parts = try MultipartParser.parse(data, boundary: "XyZ123")
        XCTAssertEqual(parts.count, 3)
        XCTAssertEqual(parts[0].name, "top_k")
        XCTAssertNil(parts[0].filename)
        XCTAssertEqual(String(decoding: parts[0].body, as: UTF8.self), "5")
        XCTAssertEqual(parts[1].filename, "a b.png")
        XCTAssertEqual(parts[1].contentType, "image/png")
        XCTAssertEqual(String(decoding: parts[1].body, as: UTF8.self), "PNGDATA\r\n--not-it")
        XCTAssertEqual(parts[2].body.count, 0)
    }

    func testBoundaryFromContentType() throws {
        XCTAssertEqual(try MultipartParser.boundary(fromContentType: "multipart/form-data; boundary=abc"), "abc")
        XCTAssertEqual(try MultipartParser.boundary(fromContentType: "Multipart/Form-Data; charset=x; boundary=\"a b:c\""), "a b:c")
        XCTAssertThrowsError(try MultipartParser.boundary(fromContentType: "application/json"))
        XCTAssertThrowsError(try MultipartParser.boundary(fromContentType: "multipart/form-data"))
        XCTAssertThrowsError(try MultipartParser.boundary(fromContentType: "multipart/form-data; boundary=" + String(repeating: "b", count: 71)))
    }

    func testRejectsMalformedBodies() {
        let cases = [
            "no boundary at all",
            "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
            "--B\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--B--",
            "--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--B--",
            "--B\r\nBroken Header\r\n\r\nx\r\n--B--",
            "--Bjunk\r\n",
        ]
        for text in cases {
            XCTAssertThrowsError(try MultipartParser.parse(Data(text.utf8), boundary: "B"), text) { error in
                XCTAssertEqual((error as? HTTPError)?.status.code, 400, text)
            }
        }
    }

    func testUploadFromPythonThroughTheServer() throws {
        let router = Router()
        router.post("/upload") { request in
            let parts = try MultipartParser.parse(request)
            return .text(parts.map { "\($0.name ?? "-"):\($0.filename ?? "-"):\($0.body.count)" }.joined(separator: ","))
        }
        let server = try TestServer(router: router)
        defer { server.stop() }
        let script = """
        import http.client, sys, uuid
        boundary = uuid.uuid4().hex
        parts = []
        def field(name, value, filename=None, ctype=None):
            disp = 'form-data; name="%s"' % name + ('; filename="%s"' % filename if filename else '')
            head = "Content-Disposition: %s\\r\\n" % disp + ("Content-Type: %s\\r\\n" % ctype if ctype else "")
            parts.append(b"--" + boundary.encode() + b"\\r\\n" + head.encode() + b"\\r\\n" + value + b"\\r\\n")
        field("method", b"gradcam")
        field("image", bytes(range(256)) * 400, "one.png", "image/png")
        field("image", b"\\r\\n--" + b"x" * 5000, "two.jpg", "image/jpeg")
        body = b"".join(parts) + b"--" + boundary.encode() + b"--\\r\\n"
        conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
        conn.request("POST", "/upload", body=body, headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        r = conn.getresponse()
        print(r.status, r.read().decode())
        conn.request("POST", "/upload", body=b"{}", headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        print(r.status, r.read().decode())
        """
        let result = try runPython(script, ["\(server.port)"])
        XCTAssertEqual(result.status, 0, result.errors)
        let lines = result.output.split(separator: "\n")
        XCTAssertEqual(lines.first, "200 method:-:7,image:one.png:102400,image:two.jpg:5004")
        XCTAssertEqual(lines.last?.hasPrefix("415 {\"error\":{\"code\":\"unsupported_media_type\""), true)
    }
}
