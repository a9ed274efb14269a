extension Preprocessing {
    /// torchvision's ImageNet evaluation transform: Resize(256), CenterCrop(224), ToTensor,
    /// Normalize with the ImageNet channel statistics.
    public static let imagenet = Preprocessing(
        color: .rgb, resize: .shorterSide(256), crop: Size(width: 224, height: 224),
        mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// Fashion-MNIST: 28x28 gray items, light on a dark background, scaled to [0, 1].
    /// Photos are letterboxed so the whole item stays in frame, as in the dataset.
    public static let fashionMNIST = Preprocessing(
        color: .grayscale, invert: .whenBackgroundIsLight, resize: .letterbox(width: 28, height: 28, fill: 0))

    public static let presets: [String: Preprocessing] = ["imagenet": imagenet, "fashion-mnist": fashionMNIST]
}
