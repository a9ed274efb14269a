import Foundation
import HTTPServer
import HTTPTypes
import XCTest

/// The head-only policies in memory: which hosts are served, which cross-site requests are
/// refused, which body types a route takes.
final class SecurityPolicyTests: XCTestCase {
    func testHostPolicyAllowsThisMachineAndAddressesAndNamedHostsOnly() {
        let policy = HostPolicy()
        for host in ["localhost", "localhost:8080", "LOCALHOST", "app.localhost:3000", "localhost.", "127.0.0.1",
                     "127.0.0.1:8080", "10.1.2.3:80", "[::1]", "[::1]:8080", "[fe80::1]:80"] {
            XCTAssertTrue(policy.allows(host), host)
        }
        // A rebound name, names that merely contain an allowed one, and malformed values.
        for host in ["evil.com", "evil.com:8080", "localhost.evil.com", "127.0.0.1.evil.com", "evillocalhost", "",
                     ":8080", "localhost:80x", "[::1", "[::1]x", "1.2.3.4.5"] {
            XCTAssertFalse(policy.allows(host), host)
        }
        let named = HostPolicy(names: ["Salient.Example.com", ".svc.cluster.local", "*.internal"])
        XCTAssertTrue(named.allows("salient.example.com:443"))
        XCTAssertTrue(named.allows("salient.default.svc.cluster.local"))
        XCTAssertTrue(named.allows("a.b.internal"))
        XCTAssertFalse(named.allows("example.com"))
        XCTAssertFalse(named.allows("internal"), "a subdomain pattern does not match the bare domain")
        XCTAssertFalse(named.allows("xsvc.cluster.local"))
        XCTAssertTrue(HostPolicy(names: ["*"]).allows("anything.at.all"))
    }

    private func head(_ method: HTTPRequest.Method, authority: String? = "localhost:8080",
                      _ fields: [(String, String)] = []) -> HTTPRequest {
        var headerFields = HTTPFields()
        for (name, value) in fields { headerFields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return HTTPRequest(method: method, scheme: "http", authority: authority, path: "/v1/classify", headerFields: headerFields)
    }

    func testCrossSitePolicyRefusesOtherSitesButNotClientsOrNavigation() {
        let policy = CrossSitePolicy()
        // Clients that are not browsers, and the server's own pages.
        XCTAssertNil(policy.refusal(for: head(.post)))
        XCTAssertNil(policy.refusal(for: head(.post, [("Origin", "http://localhost:8080"), ("Sec-Fetch-Site", "same-origin")])))
        XCTAssertNil(policy.refusal(for: head(.post, [("Origin", "https://localhost:8080")])), "a TLS-terminating proxy")
        XCTAssertNil(policy.refusal(for: head(.post, authority: "salient.example.com", [("Origin", "https://salient.example.com")])))
        XCTAssertNil(policy.refusal(for: head(.delete, authority: "x.test:80", [("Origin", "http://x.test")])))
        // A link followed from another site to a page or a map.
        XCTAssertNil(policy.refusal(for: head(.get, [("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "navigate"),
                                                     ("Sec-Fetch-Dest", "document")])))
        // Another site's form or fetch, with or without fetch metadata; a sandboxed page; another port.
        XCTAssertEqual(policy.refusal(for: head(.post, [("Origin", "http://evil.com")]))?.code, "origin_not_allowed")
        XCTAssertEqual(policy.refusal(for: head(.post, [("Origin", "null")]))?.code, "origin_not_allowed")
        XCTAssertEqual(policy.refusal(for: head(.post, [("Origin", "http://localhost:3000"), ("Sec-Fetch-Site", "same-site")]))?.code,
                       "origin_not_allowed")
        XCTAssertEqual(policy.refusal(for: head(.post, [("Origin", "http://evil.com"), ("Sec-Fetch-Site", "cross-site"),
                                                        ("Sec-Fetch-Mode", "no-cors")]))?.code, "cross_site_request")
        // Another site's image, script or fetch of a read: refused by fetch metadata.
        XCTAssertEqual(policy.refusal(for: head(.get, [("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "no-cors"),
                                                       ("Sec-Fetch-Dest", "image")]))?.status, .forbidden)
        XCTAssertEqual(policy.refusal(for: head(.get, [("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "navigate"),
                                                       ("Sec-Fetch-Dest", "embed")]))?.status, .forbidden)
        // A navigation that posts a form is not a read.
        XCTAssertNotNil(policy.refusal(for: head(.post, [("Origin", "http://evil.com"), ("Sec-Fetch-Site", "cross-site"),
                                                         ("Sec-Fetch-Mode", "navigate")])))

        let allowing = CrossSitePolicy(allowedOrigins: ["https://App.Example.com/"])
        XCTAssertNil(allowing.refusal(for: head(.post, [("Origin", "https://app.example.com"), ("Sec-Fetch-Site", "cross-site")])))
        XCTAssertNotNil(allowing.refusal(for: head(.post, [("Origin", "https://evil.example.com")])))
        XCTAssertNil(CrossSitePolicy(allowedOrigins: ["*"]).refusal(for: head(.post, [("Origin", "http://evil.com")])))
    }

    private func body(_ contentType: String?, length: Int = 10, _ fields: [(String, String)] = []) -> HTTPRequest {
        var all = fields + [("Content-Length", "\(length)")]
        if let contentType { all.append(("Content-Type", contentType)) }
        return head(.post, all)
    }

    func testBodyTypesRefuseWhatABrowserMaySendCrossSite() {
        let json = AcceptedBodyTypes.json
        XCTAssertNil(json.refusal(for: body("application/json")))
        XCTAssertNil(json.refusal(for: body("Application/JSON; charset=utf-8")))
        XCTAssertNil(json.refusal(for: body(nil, length: 0)), "no body, nothing to check")
        for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", nil] {
            let refusal = json.refusal(for: body(type))
            XCTAssertEqual(refusal?.status, .unsupportedMediaType, "\(type ?? "no type")")
            XCTAssertTrue(refusal?.message.contains("application/json") == true, refusal?.message ?? "")
        }
        XCTAssertNotNil(json.refusal(for: head(.post, [("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain")])))

        let images = AcceptedBodyTypes(["image/*", "multipart/form-data"], untypedFromNonBrowsers: true)
        XCTAssertNil(images.refusal(for: body("image/jpeg")))
        XCTAssertNil(images.refusal(for: body("image/png")))
        XCTAssertNil(images.refusal(for: body("multipart/form-data; boundary=x")))
        // curl --data-binary and http.client: no browser, so the untyped body is taken.
        XCTAssertNil(images.refusal(for: body("application/x-www-form-urlencoded")))
        XCTAssertNil(images.refusal(for: body(nil)))
        // The same from a page, which any site could send.
        let fromPage = images.refusal(for: body("application/x-www-form-urlencoded", [("Origin", "http://localhost:8080")]))
        XCTAssertEqual(fromPage?.status, .unsupportedMediaType)
        XCTAssertNotNil(images.refusal(for: body(nil, [("Sec-Fetch-Site", "same-origin")])))
        XCTAssertNotNil(images.refusal(for: body("text/plain")), "text/plain is never an image")
        let curlHint = images.refusal(for: body("text/plain"))?.message ?? ""
        XCTAssertTrue(curlHint.contains("image/*"), curlHint)

        XCTAssertNotNil(AcceptedBodyTypes.none.refusal(for: body("application/json")))
        XCTAssertNil(AcceptedBodyTypes.none.refusal(for: head(.post)))
    }
}
