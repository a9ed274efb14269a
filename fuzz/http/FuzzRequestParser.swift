// libFuzzer harness for HTTPRequestParser, compiled together with
// Sources/HTTPServer/Parsing by run.sh (not part of `swift build` or `make test`).
//
// Oracle: the parser must never crash, must respect its limits, and must produce
// the same events and the same error whether the input arrives in one piece or
// split at arbitrary points. The first input byte chooses the split size.

let limits = HTTPRequestParser.Limits(maxRequestLineBytes: 256, maxHeaderBytes: 1024, maxHeaderFields: 16, maxBodyBytes: 4096)

struct Outcome: Equatable {
    var heads: [HTTPRequestHead] = []
    var bodies: [[UInt8]] = []
    var error: HTTPParseError?
}

func parse(_ input: UnsafeBufferPointer<UInt8>, step: Int) -> Outcome {
    var parser = HTTPRequestParser(limits: limits)
    var outcome = Outcome()
    var body: [UInt8] = []
    var offset = 0
    repeat {
        let end = min(input.count, offset + step)
        parser.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: input[offset..<end])))
        offset = end
        do {
            while let event = try parser.next() {
                switch event {
                case .head(let head):
                    outcome.heads.append(head)
                    body = []
                case .body(let bytes):
                    precondition(!bytes.isEmpty, "empty body event")
                    body.append(contentsOf: bytes)
                    precondition(body.count <= limits.maxBodyBytes, "body over its limit")
                case .end:
                    outcome.bodies.append(body)
                }
            }
        } catch let error as HTTPParseError {
            outcome.error = error
            return outcome
        } catch {
            preconditionFailure("unexpected error type \(error)")
        }
        precondition(parser.bufferedByteCount <= input.count, "buffer grew beyond the input")
    } while offset < input.count
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 1 else { return 0 }
    let input = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let step = Int(data[0] % 32) + 1
    let whole = parse(input, step: input.count)
    let split = parse(input, step: step)
    precondition(whole == split, "split at \(step) changed the outcome: \(whole) vs \(split)")
    for head in whole.heads {
        precondition(head.fields.count <= limits.maxHeaderFields, "too many fields accepted")
        if case .length(let length) = head.framing { precondition(length >= 0, "negative length") }
    }
    return 0
}
