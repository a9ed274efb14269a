/// GELU as exporters spell it before opset 20, 0.5 · x · (1 + erf(x / sqrt 2)) in five nodes
/// (PyTorch: Div, Erf, Add, Mul, Mul), found in the graph and run as one vectorized activation:
/// one pass over the tensor instead of five with four intermediates, and a polynomial erf
/// instead of a scalar one (ConvNeXt-Tiny spends most of its GELU time there).
extension Graph {
    /// Each GELU written out as its formula replaced by one `ActivationLayer(.gelu)`. The
    /// product may associate either way (x times the rest, or 0.5 x times 1 + erf), x / sqrt 2
    /// may be a Div or a Mul by 1 / sqrt 2, and the intermediates must have no other reader.
    func gelusFused() throws -> Graph {
        let readers = readerCounts()
        let shapes = try shapes(batch: 1)
        let position = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($1.name, $0) })
        var scalars: [String: Float] = [:]
        for node in nodes {
            if let constant = node.op as? Constant, constant.value.count == 1 { scalars[node.name] = constant.value.scalars[0] }
        }
        func producer(_ name: String) -> Node? { position[name].map { nodes[$0] } }
        func onlyRead(_ name: String) -> Bool { readers[name] == 1 && name != outputName }
        func isScalar(_ name: String, _ value: Float) -> Bool {
            guard let v = scalars[name], let shape = shapes[name], shape.count <= 1 else { return false }
            return abs(v - value) <= 1e-6 * max(1, abs(value))
        }
        func elementwise(_ node: Node?, _ operation: Elementwise.Operation) -> Node? {
            guard let node, let op = node.op as? Elementwise, op.operation == operation, node.inputs.count == 2 else { return nil }
            return node
        }
        /// The nodes of 1 + erf(x / sqrt 2) for this x, or nil.
        func plusErf(_ name: String, of x: String) -> [String]? {
            guard onlyRead(name), let add = elementwise(producer(name), .add),
                  let erfName = add.inputs.first(where: { !isScalar($0, 1) }), add.inputs.contains(where: { isScalar($0, 1) }),
                  onlyRead(erfName), let erf = producer(erfName), (erf.op as? Pointwise)?.function == .erf,
                  erf.inputs.count == 1, onlyRead(erf.inputs[0]), let scaled = producer(erf.inputs[0]) else { return nil }
            let root = Float(2).squareRoot()
            if let div = elementwise(scaled, .div), div.inputs[0] == x, isScalar(div.inputs[1], root) {
                return [name, erfName, scaled.name]
            }
            if let mul = elementwise(scaled, .mul), mul.inputs.contains(x),
               mul.inputs.contains(where: { $0 != x && isScalar($0, 1 / root) }) {
                return [name, erfName, scaled.name]
            }
            return nil
        }
        var absorbed = Set<String>()
        var replacements: [String: Node] = [:]
        for node in nodes {
            guard let outer = elementwise(node, .mul), shapes[node.name] != nil else { continue }
            // The three factors: one input of the outer product and the two of the inner one.
            for (innerName, other) in [(outer.inputs[0], outer.inputs[1]), (outer.inputs[1], outer.inputs[0])] {
                guard onlyRead(innerName), !absorbed.contains(innerName), let inner = elementwise(producer(innerName), .mul)
                else { continue }
                let factors = [other] + inner.inputs
                guard let half = factors.firstIndex(where: { isScalar($0, 0.5) }) else { continue }
                let rest = factors.enumerated().filter { $0.offset != half }.map(\.element)
                let match = [(rest[0], rest[1]), (rest[1], rest[0])].lazy.compactMap { x, sum in
                    shapes[x] == shapes[node.name] ? plusErf(sum, of: x).map { (x, $0) } : nil
                }.first
                guard let (x, formula) = match, absorbed.isDisjoint(with: formula) else { continue }
                absorbed.formUnion(formula + [innerName])
                replacements[node.name] = Node(name: node.name, op: ActivationLayer(.gelu), inputs: [x])
                break
            }
        }
        let rewritten = nodes.compactMap { absorbed.contains($0.name) ? nil : replacements[$0.name] ?? $0 }
        return try Graph(name: name, inputName: inputName, inputShape: inputShape, nodes: rewritten, outputName: outputName)
    }
}
