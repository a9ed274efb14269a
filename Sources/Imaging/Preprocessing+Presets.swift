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

    /// The torchvision architectures whose native input is not 224 pixels, with the transform of
    /// their DEFAULT weights (`weights.transforms()`): the resize, the crop, the filter, and the
    /// channel statistics.
    public static let torchvision: [String: Preprocessing] = [
        "inception_v3": imagenet(resize: 342, crop: 299),
        "efficientnet_b1": imagenet(resize: 255, crop: 240),
        "efficientnet_b2": imagenet(resize: 288, crop: 288, .bicubic),
        "efficientnet_b3": imagenet(resize: 320, crop: 300, .bicubic),
        "efficientnet_b4": imagenet(resize: 384, crop: 380, .bicubic),
        "efficientnet_b5": imagenet(resize: 456, crop: 456, .bicubic),
        "efficientnet_b6": imagenet(resize: 528, crop: 528, .bicubic),
        "efficientnet_b7": imagenet(resize: 600, crop: 600, .bicubic),
        "efficientnet_v2_s": imagenet(resize: 384, crop: 384),
        "efficientnet_v2_m": imagenet(resize: 480, crop: 480),
        "efficientnet_v2_l": Preprocessing(color: .rgb, resize: .shorterSide(480), interpolation: .bicubic,
                                           crop: Size(width: 480, height: 480), mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]),
        "regnet_y_128gf": imagenet(resize: 384, crop: 384, .bicubic),
    ]

    public static let presets: [String: Preprocessing] = torchvision.merging(["imagenet": imagenet, "fashion-mnist": fashionMNIST]) { _, new in new }

    /// ImageNet's statistics at another size or filter.
    private static func imagenet(resize: Int, crop: Int, _ interpolation: Interpolation? = nil) -> Preprocessing {
        Preprocessing(color: .rgb, resize: .shorterSide(resize), interpolation: interpolation,
                      crop: Size(width: crop, height: crop), mean: imagenet.mean, std: imagenet.std)
    }
}
