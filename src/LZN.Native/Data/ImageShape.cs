namespace LZN.Native.Data;

/// <summary>
/// The shape of one image. Pixels are stored planar (channel-major), [channels, height, width] per image,
/// the layout the convolution layers read; for one channel that is plain row-major [height, width].
/// </summary>
public readonly record struct ImageShape(int Height, int Width, int Channels)
{
    /// <summary>Values per image: channels * height * width.</summary>
    public int Size => Channels * Height * Width;

    public override string ToString() => $"{Height}x{Width}x{Channels}";
}
