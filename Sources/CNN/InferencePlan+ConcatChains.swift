extension InferencePlan {
    /// Each Concat's `root`: the longest Concat on the same axis whose inputs begin with its
    /// inputs, when every such Concat's inputs are starts of that one's (a chain); else itself.
    /// The input lists go into a trie, one path per list, so this costs one step per input: a
    /// model file of thousands of Concats repeating one long prefix must not make loading
    /// quadratic (comparing every pair of Concats would).
    static func concatRoots(axes: [Int: Int], inputs: (Int) -> [String]) -> [Int: Int] {
        var children: [[String: Int]] = []  // trie nodes; a child is always created after its parent
        var ends: [[Int]] = []               // the Concats whose inputs end at each node
        var starts: [Int: Int] = [:]          // the trie's root node for each axis
        var endNode: [Int: Int] = [:]
        func newNode() -> Int {
            children.append([:])
            ends.append([])
            return children.count - 1
        }
        for c in axes.keys.sorted() {
            let axis = axes[c]!
            if starts[axis] == nil { starts[axis] = newNode() }
            var node = starts[axis]!
            for name in inputs(c) {
                if let next = children[node][name] {
                    node = next
                } else {
                    let next = newNode()
                    children[node][name] = next
                    node = next
                }
            }
            ends[node].append(c)
            endNode[c] = node
        }
        // Bottom up (children come after parents): the deepest Concat below each node, and
        // whether all the Concats below it lie on one path.
        var deepest = [Int?](repeating: nil, count: children.count)
        var chain = [Bool](repeating: true, count: children.count)
        for node in children.indices.reversed() {
            let below = children[node].values.filter { deepest[$0] != nil }
            chain[node] = below.count <= 1 && below.allSatisfy { chain[$0] }
            deepest[node] = below.first.flatMap { deepest[$0] } ?? ends[node].first
        }
        var root: [Int: Int] = [:]
        for (c, node) in endNode {
            root[c] = chain[node] ? deepest[node]! : c
        }
        return root
    }
}
