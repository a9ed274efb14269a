import HTTPTypes

extension HTTPRequestHead {
    /// The head as swift-http-types' request, with its target split for routing. Throws the
    /// parse error that refuses it: a method or a field name `HTTPRequest` cannot hold
    /// (`invalidHeaderField`), or a target of none of the forms RFC 9112 allows
    /// (`malformedRequestLine`).
    public func request(isSecure: Bool) throws -> (request: HTTPRequest, target: RequestTarget) {
        guard let method = HTTPRequest.Method(self.method), let target = RequestTarget(self.target, method: method) else {
            throw HTTPParseError.malformedRequestLine
        }
        var headerFields = HTTPFields()
        headerFields.reserveCapacity(fields.count)
        for field in fields {
            guard let name = HTTPField.Name(field.name) else { throw HTTPParseError.invalidHeaderField }
            headerFields.append(HTTPField(name: name, value: field.value))
        }
        let request = HTTPRequest(method: method, scheme: isSecure ? "https" : "http",
                                  authority: values(named: "host").first, path: self.target, headerFields: headerFields)
        return (request, target)
    }
}
