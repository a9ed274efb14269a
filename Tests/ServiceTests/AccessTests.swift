import Foundation
import Service
import XCTest

/// Who may reach the service: the listening address, the tokens and what each one opens,
/// and the refusal of other sites' pages, rebound host names and cross-site body types.
final class AccessTests: XCTestCase {
    private func load(file: String? = nil, _ environment: [String: String] = [:]) throws -> ServiceConfiguration {
        var path: String?
        if let file {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("salient-\(UUID().uuidString).json")
            try Data(file.utf8).write(to: url)
            path = url.path
        }
        return try ServiceConfiguration.load(file: path, environment: environment)
    }

    private func assertRefused(_ make: @autoclosure () throws -> ServiceConfiguration, naming setting: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try make(), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(setting), "\(error)", file: file, line: line)
        }
    }

    func testEmptyOrUnusableTokensAreRefusedWhereverTheyAreSet() throws {
        assertRefused(try load(["SALIENT_API_TOKEN": ""]), naming: "SALIENT_API_TOKEN is empty")
        assertRefused(try load(["SALIENT_READ_TOKEN": ""]), naming: "SALIENT_READ_TOKEN is empty")
        assertRefused(try load(file: #"{"api_token": ""}"#), naming: "api_token is empty")
        assertRefused(try load(file: #"{"read_token": ""}"#), naming: "read_token is empty")
        assertRefused(try load(["SALIENT_API_TOKEN": "has space"]), naming: "SALIENT_API_TOKEN holds spaces")
        assertRefused(try load(["SALIENT_API_TOKEN": "x", "SALIENT_API_TOKEN_FILE": "/dev/null"]), naming: "give one")
        XCTAssertThrowsError(try ServiceConfiguration.token(value: "", file: nil, settings: ("--token", "--token-file"))) {
            XCTAssertTrue("\($0)".contains("--token is empty"), "\($0)")
        }

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let written = folder.appendingPathComponent("token"), empty = folder.appendingPathComponent("empty")
        try Data("s3cret-from-a-secret\n".utf8).write(to: written)
        try Data("\n".utf8).write(to: empty)
        XCTAssertEqual(try load(["SALIENT_API_TOKEN_FILE": written.path]).apiToken, "s3cret-from-a-secret")
        XCTAssertEqual(try load(file: #"{"read_token_file": "\#(written.path)"}"#).readToken, "s3cret-from-a-secret")
        assertRefused(try load(["SALIENT_API_TOKEN_FILE": empty.path]), naming: "SALIENT_API_TOKEN_FILE (\(empty.path)) is empty")
        assertRefused(try load(["SALIENT_READ_TOKEN_FILE": folder.appendingPathComponent("missing").path]),
                      naming: "cannot read the token file")
        // The shipped configuration file sets no token and must load.
        XCTAssertNil(try ServiceConfiguration.load(file: ServiceHarness.repositoryRoot.appendingPathComponent("config/salient.json").path,
                                                   environment: [:]).apiToken)
    }

    func testListensOnThisMachineUnlessATokenIsSet() throws {
        let plain = try load()
        XCTAssertEqual(plain.listenHost, "127.0.0.1")
        XCTAssertNoThrow(try plain.checkExposure())
        XCTAssertEqual(try load(["SALIENT_API_TOKEN": "t0ken"]).listenHost, "0.0.0.0")
        XCTAssertEqual(try load(["SALIENT_READ_TOKEN": "t0ken"]).listenHost, "0.0.0.0")
        XCTAssertEqual(try load(["SALIENT_API_TOKEN": "t0ken", "SALIENT_HOST": "127.0.0.1"]).listenHost, "127.0.0.1")

        for host in ["0.0.0.0", "::", "192.0.2.1"] {
            let open = try load(["SALIENT_HOST": host])
            XCTAssertThrowsError(try open.checkExposure(), host) { error in
                for setting in ["api_token", "SALIENT_API_TOKEN", "--insecure-open", "insecure_open", "SALIENT_INSECURE_OPEN"] {
                    XCTAssertTrue("\(error)".contains(setting), "\(error)")
                }
            }
            XCTAssertNoThrow(try load(["SALIENT_HOST": host, "SALIENT_INSECURE_OPEN": "1"]).checkExposure())
            XCTAssertNoThrow(try load(file: #"{"host": "\#(host)", "insecure_open": true}"#).checkExposure())
            XCTAssertNoThrow(try load(["SALIENT_HOST": host, "SALIENT_API_TOKEN": "t0ken"]).checkExposure())
        }
        for host in ["127.0.0.1", "127.0.0.2", "::1", "localhost"] {
            XCTAssertNoThrow(try load(["SALIENT_HOST": host]).checkExposure(), host)
        }
        assertRefused(try load(["SALIENT_INSECURE_OPEN": "maybe"]), naming: "SALIENT_INSECURE_OPEN=maybe")
        let insecure = try load(["SALIENT_HOST": "0.0.0.0", "SALIENT_INSECURE_OPEN": "true"]).exposureSummary(port: 8080)
        XCTAssertTrue(insecure.warnings.contains { $0.hasPrefix("INSECURE") }, "\(insecure)")
        XCTAssertTrue(try load(["SALIENT_API_TOKEN": "t0ken"]).exposureSummary(port: 8080).warnings
            .contains { $0.contains("reads (classification") }, "open reads on the network are said at start")

        var protectedWithoutToken = ServiceConfiguration()
        protectedWithoutToken.protectReads = true
        XCTAssertThrowsError(try protectedWithoutToken.checkExposure())

        // The service itself will not start exposed.
        var exposed = ServiceConfiguration()
        exposed.host = "0.0.0.0"
        exposed.server.port = 0
        exposed.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("salient-\(UUID().uuidString)").path
        XCTAssertThrowsError(try SalientService(configuration: exposed))
    }

    func testReadAndWriteTokensOpenWhatTheySay() throws {
        let read = "read-token-0123456789", write = "write-token-0123456789"
        let photo = try ServiceHarness.photos()[0]
        func bearer(_ token: String?) -> [String] { token.map { ["-H", "Authorization: Bearer \($0)"] } ?? [] }

        let both = try ServiceHarness {
            $0.readToken = read
            $0.apiToken = write
        }
        defer { both.stop() }
        for token in [nil, "wrong", ""] as [String?] {
            XCTAssertEqual(try both.curl("/v1/models", bearer(token)).status, 401)
            XCTAssertEqual(try both.post("/v1/classify", file: photo, bearer(token)).status, 401)
            XCTAssertEqual(try both.curl("/metrics", bearer(token)).status, 401, "metrics are a read")
        }
        for token in [read, write] {
            XCTAssertEqual(try both.curl("/v1/models", bearer(token)).status, 200)
            XCTAssertEqual(try both.post("/v1/classify", file: photo, bearer(token)).status, 200)
            XCTAssertEqual(try both.curl("/metrics", bearer(token)).status, 200)
        }
        XCTAssertEqual(try both.curl("/v1/models/fashion-cnn", ["-X", "DELETE"] + bearer(read)).status, 401,
                       "the read token changes nothing")
        XCTAssertEqual(try both.curl("/v1/models/fashion-cnn", ["-X", "DELETE"] + bearer(write)).status, 409,
                       "past the token: the default model cannot be deleted")
        for open in ["/healthz", "/readyz", "/", "/openapi.json"] {
            XCTAssertEqual(try both.curl(open).status, 200, "\(open) stays open for probes and the UI")
        }

        let readOnly = try ServiceHarness { $0.readToken = read }
        defer { readOnly.stop() }
        XCTAssertEqual(try readOnly.curl("/v1/models/fashion-cnn", ["-X", "DELETE"]).status, 401,
                       "a read token alone guards writes too")
        XCTAssertEqual(try readOnly.curl("/v1/models/fashion-cnn", ["-X", "DELETE"] + bearer(read)).status, 409)

        let writeOnly = try ServiceHarness { $0.apiToken = write }
        defer { writeOnly.stop() }
        XCTAssertEqual(try writeOnly.curl("/v1/models").status, 200)
        XCTAssertEqual(try writeOnly.curl("/metrics").status, 200, "metrics are open while reads are")
        XCTAssertEqual(try writeOnly.curl("/v1/models/fashion-cnn", ["-X", "DELETE"]).status, 401)

        let protected = try ServiceHarness {
            $0.apiToken = write
            $0.protectReads = true
        }
        defer { protected.stop() }
        XCTAssertEqual(try protected.curl("/metrics").status, 401)
        XCTAssertEqual(try protected.curl("/metrics", bearer(write)).status, 200)
    }

    func testOtherSitesPagesAndReboundNamesAreRefused() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let photo = try ServiceHarness.photos()[0]
        let port = try XCTUnwrap(harness.service.port)

        // The classic forgery: a page's form posting text/plain that happens to be JSON.
        let job = #"{"base_model":"fashion-cnn","dataset":"ds-x","output_model":"forged","epochs":1000}"#
        let form = try harness.curl("/v1/jobs", ["-H", "Content-Type: text/plain", "-H", "Origin: http://evil.example",
                                                 "--data-binary", job])
        XCTAssertEqual(form.status, 403, form.text)
        XCTAssertEqual(form.errorCode, "origin_not_allowed")
        // Even from this origin, JSON routes take application/json alone, so no form can reach them.
        let sameOrigin = try harness.curl("/v1/jobs", ["-H", "Content-Type: text/plain", "-H", "Origin: http://127.0.0.1:\(port)",
                                                       "--data-binary", job])
        XCTAssertEqual(sameOrigin.status, 415, sameOrigin.text)
        XCTAssertEqual(try harness.curl("/v1/jobs", ["--data-binary", job]).status, 415, "what curl -d sends")
        XCTAssertEqual(try harness.curl("/v1/jobs").object["jobs"] as? [String], [], "no job was queued")

        // Costly work from another site: a form, a fetch marked cross-site, an upload.
        XCTAssertEqual(try harness.post("/v1/classify", file: photo, ["-H", "Origin: http://evil.example"]).status, 403)
        XCTAssertEqual(try harness.curl("/v1/classify", ["-H", "Origin: http://evil.example", "--data-binary", "@\(photo.path)"]).status, 403)
        XCTAssertEqual(try harness.curl("/v1/models/fashion-cnn/saliency?method=smoothgrad",
                                        ["-H", "Sec-Fetch-Site: cross-site", "-H", "Sec-Fetch-Mode: no-cors",
                                         "-H", "Content-Type: multipart/form-data; boundary=x", "--data-binary", "--x--"]).status, 403)
        XCTAssertEqual(try harness.curl("/v1/models", ["-H", "Origin: null", "-F", "file=@\(photo.path)", "-F", "name=x"]).status, 403)
        XCTAssertEqual(try harness.curl("/v1/models", ["-H", "Sec-Fetch-Site: cross-site", "-H", "Sec-Fetch-Mode: cors"]).status, 403,
                       "another site's script cannot read the listing either")
        let metrics = try harness.curl("/metrics").text
        XCTAssertFalse(metrics.contains("salient_inference_seconds_count"), "no refused request ran an inference")

        // A link followed from another site still opens the UI.
        XCTAssertEqual(try harness.curl("/", ["-H", "Sec-Fetch-Site: cross-site", "-H", "Sec-Fetch-Mode: navigate",
                                              "-H", "Sec-Fetch-Dest: document"]).status, 200)

        // DNS rebinding: the attacker's name in Host.
        for host in ["evil.example", "evil.example:\(port)", "localhost.evil.example"] {
            let rebound = try harness.curl("/v1/models", ["-H", "Host: \(host)"])
            XCTAssertEqual(rebound.status, 421, host)
            XCTAssertEqual(rebound.errorCode, "host_not_allowed")
        }
        XCTAssertEqual(try harness.curl("/v1/models", ["-H", "Host: localhost:\(port)"]).status, 200)
        let named = try ServiceHarness { $0.allowedHosts = ["salient.example"] }
        defer { named.stop() }
        XCTAssertEqual(try named.curl("/v1/models", ["-H", "Host: salient.example"]).status, 200)

        // The decision for curl --data-binary: untyped image bodies are taken from clients that
        // are not browsers, and refused from pages, which any site could make send them.
        XCTAssertEqual(try harness.curl("/v1/classify", ["--data-binary", "@\(photo.path)"]).status, 200)
        XCTAssertEqual(try harness.curl("/v1/classify", ["-H", "Content-Type:", "--data-binary", "@\(photo.path)"]).status, 200)
        let page = try harness.curl("/v1/classify", ["-H", "Origin: http://127.0.0.1:\(port)", "--data-binary", "@\(photo.path)"])
        XCTAssertEqual(page.status, 415, page.text)
        XCTAssertEqual(try harness.curl("/v1/classify", ["-H", "Origin: http://127.0.0.1:\(port)", "-H", "Content-Type: image/png",
                                                         "--data-binary", "@\(photo.path)"]).status, 200, "the UI's own request")
    }

    func testSecurityHeadersOnTheUIAndTheAPI() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        for path in ["/", "/js/main.js", "/v1/models", "/v1/models/nowhere", "/healthz"] {
            let headers = try harness.curl(path).headers
            XCTAssertTrue(headers["content-security-policy"]?.contains("frame-ancestors 'none'") == true, path)
            XCTAssertTrue(headers["content-security-policy"]?.contains("script-src 'self'") == true, path)
            XCTAssertEqual(headers["x-content-type-options"], "nosniff", path)
            XCTAssertEqual(headers["x-frame-options"], "DENY", path)
            XCTAssertEqual(headers["referrer-policy"], "no-referrer", path)
        }
    }

    /// openapi.json says what each route class needs and what it may answer: the token a class
    /// takes, and the refusals every request may get from its head.
    func testTheAPIDescriptionSaysWhoMayCallAndHowRequestsAreRefused() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let spec = try XCTUnwrap(try harness.curl("/openapi.json").json as? [String: Any])
        let paths = try XCTUnwrap(spec["paths"] as? [String: [String: [String: Any]]])
        let optionalBearer: [[String: [String]]] = [[:], ["bearer": []]]
        for route in harness.service.routes {
            let path = OpenAPITests.openAPIPath(route.pattern)
            let operation = try XCTUnwrap(paths[path]?[route.method.rawValue.lowercased()], "\(route.method) \(path)")
            let responses = try XCTUnwrap(operation["responses"] as? [String: Any])
            let name = "\(route.method) \(path)"
            let security = operation["security"] as? [[String: [String]]]
            switch route.queue {
            case "writes":
                XCTAssertEqual(security, [["bearer": []]], name)
            case "reads", "inference":
                XCTAssertEqual(security, optionalBearer, name)
            default:
                XCTAssertEqual(security, path == "/metrics" ? optionalBearer : nil, name)
            }
            if security != nil {
                XCTAssertEqual((responses["401"] as? [String: String])?["$ref"], "#/components/responses/Unauthorized", name)
            }
            XCTAssertEqual((responses["421"] as? [String: String])?["$ref"], "#/components/responses/MisdirectedRequest", name)
            XCTAssertEqual((responses["403"] as? [String: String])?["$ref"], "#/components/responses/CrossSite", name)
            // Readiness answers 503 when not ready, besides a full queue. Elsewhere the 503 is the
            // shared Overloaded or a route's own that also says what else fills up (uploads,
            // image memory, the job queue): with Retry-After, naming the route class's queue.
            if !["/readyz", "/v2/health/ready"].contains(path) {
                let ref = try XCTUnwrap((responses["503"] as? [String: String])?["$ref"], name)
                let components = (spec["components"] as? [String: Any])?["responses"] as? [String: Any]
                let overloaded = try XCTUnwrap(components?[String(ref.split(separator: "/").last ?? "")] as? [String: Any], ref)
                XCTAssertNotNil((overloaded["headers"] as? [String: Any])?["Retry-After"], name)
                let setting = ["inference": "max_queued_requests", "reads": "max_queued_reads", "writes": "max_queued_writes",
                               "operations": "max_queued_operations"][route.queue] ?? route.queue
                for named in [setting, "max_buffered_body_bytes"] {
                    XCTAssertTrue((overloaded["description"] as? String)?.contains(named) == true, "\(name): \(ref) does not name \(named)")
                }
            }
        }
        let overloaded = try XCTUnwrap(((spec["components"] as? [String: Any])?["responses"] as? [String: Any])?["Overloaded"] as? [String: Any])
        XCTAssertNotNil((overloaded["headers"] as? [String: Any])?["Retry-After"])
        for setting in ["max_queued_requests", "max_queued_reads", "max_queued_writes", "max_queued_operations", "max_buffered_body_bytes"] {
            XCTAssertTrue((overloaded["description"] as? String)?.contains(setting) == true, setting)
        }
    }
}
