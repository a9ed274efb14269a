import CNN
import Foundation

/// libFuzzer entry point: any bytes must import (and export again) or fail with an error,
/// never crash. Also feeds the bytes to the TensorProto reader.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    if let graph = try? ONNXImporter.load(data: data) {
        _ = try? ONNXExporter.export(graph)
    }
    _ = try? ONNXTensor(serializedData: data)
    return 0
}
