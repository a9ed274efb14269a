import Foundation
import HTTPServer
import HTTPTypes

struct Boom: Error {}

/// The routes most server tests talk to; `/gate/:name` blocks in `gate` until the test releases it.
func makeTestRouter(gate: Gate = Gate()) -> Router {
    let router = Router()
    router.get("/hello") { _ in .text("hello") }
    router.post("/echo") { request in
        HTTPServerResponse(status: .ok, headerFields: [.contentType: "application/octet-stream"], body: request.body)
    }
    router.put("/echo") { request in .text("\(request.body.count)") }
    router.get("/slow/:ms") { request in
        let milliseconds = Int(try request.parameter("ms")) ?? 0
        usleep(UInt32(milliseconds) * 1000)
        return .text("slow \(milliseconds)")
    }
    router.get("/gate/:name") { request in
        let name = try request.parameter("name")
        gate.pass(name)
        return .text("passed \(name)")
    }
    router.get("/items/:id") { request in .text("item \(try request.parameter("id"))") }
    router.delete("/items/:id") { _ in HTTPServerResponse(status: .noContent) }
    router.add(.post, "/small", bodyLimit: 10, bodyLimitSetting: "smallBodyLimit") { request in .text("\(request.body.count)") }
    // Bodies of i % 251 let the handler check every byte without keeping a copy.
    router.post("/pattern", bodyLimit: 128 * 1024 * 1024) { request in
        let valid = request.body.withUnsafeBytes { bytes in
            bytes.enumerated().allSatisfy { $0.element == UInt8($0.offset % 251) }
        }
        return .text("\(request.body.count) \(valid)")
    }
    router.get("/text/:count") { request in
        let count = Int(try request.parameter("count")) ?? 0
        return .text(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: count))
    }
    router.get("/png") { _ in
        HTTPServerResponse(status: .ok, headerFields: [.contentType: "image/png"], body: Data(repeating: 7, count: 4096))
    }
    router.get("/query") { request in .text(request.queryItems.map { "\($0.name)=\($0.value)" }.joined(separator: ",")) }
    router.get("/bye") { _ in HTTPServerResponse(status: .ok, headerFields: [.connection: "close"], body: Data("bye".utf8)) }
    router.get("/fail") { _ in throw HTTPError(.conflict, code: "busy", message: "Try later") }
    router.get("/crash") { _ in throw Boom() }
    return router
}
