/// Weights rearranged once for a kernel (Winograd's transformed filters, packed 1x1 panels),
/// kept while the weights they came from are unchanged.
protocol DerivedFilters {
    func isCurrent(for weight: Tensor) -> Bool
}
