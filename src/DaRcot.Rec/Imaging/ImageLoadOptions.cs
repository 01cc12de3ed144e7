namespace DaRcot.Rec.Imaging;

/// <summary>How many channels <see cref="ImageTensor.Load"/> returns.</summary>
public enum ChannelMode
{
    /// <summary>Always three channels (R, G, B). Greyscale images are replicated into all three.</summary>
    Rgb = 0,

    /// <summary>
    /// One channel for files that store a single luminance channel (greyscale PNG with or without alpha, single-component
    /// JPEG), three otherwise. BMP has no greyscale colour type (8-bit BMPs are palettes), so BMPs always give three.
    /// </summary>
    KeepChannels = 1,
}

/// <summary>Bit depth of a PNG written by <see cref="ImageTensor.SavePng"/>.</summary>
public enum PngBitDepth
{
    /// <summary>8 bits per channel: values are clamped to [0,1], scaled by 255 and rounded to the nearest integer.</summary>
    Eight = 8,

    /// <summary>16 bits per channel: values are clamped to [0,1], scaled by 65535 and rounded to the nearest integer.</summary>
    Sixteen = 16,
}

/// <summary>Options for <see cref="ImageTensor.Load"/> and <see cref="ImageTensor.LoadBatch"/>.</summary>
public sealed record ImageLoadOptions
{
    /// <summary>The default: RGB, at most 100 megapixels.</summary>
    public static ImageLoadOptions Default { get; } = new();

    /// <summary>Channel handling; <see cref="ChannelMode.Rgb"/> by default. Alpha is always dropped.</summary>
    public ChannelMode Channels { get; init; } = ChannelMode.Rgb;

    /// <summary>
    /// The largest accepted width × height. Larger images are refused from their header, before any pixel is decoded,
    /// so a small crafted file cannot make the decoder allocate gigabytes. Default 100,000,000.
    /// </summary>
    public long MaxPixels { get; init; } = 100_000_000;
}

/// <summary>What <see cref="ImageTensor.Identify"/> reads from an image header, before any pixel is decoded.</summary>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Channels">Channels <see cref="ImageTensor.Load"/> returns with the same options (1 or 3).</param>
public sealed record ImageHeader(int Width, int Height, int Channels)
{
    /// <summary>Width × height.</summary>
    public long Pixels => (long)Width * Height;
}
