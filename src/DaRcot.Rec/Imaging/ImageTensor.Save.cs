using DaRcot.Rec.Errors;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using DaRcot.Rec.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Imaging;

/// <summary>The file formats <see cref="ImageTensor.Save(Tensor, string)"/> writes.</summary>
public enum ImageFileFormat
{
    /// <summary>PNG, 8 bits per channel, lossless.</summary>
    Png,

    /// <summary>JPEG, quality <see cref="ImageTensor.JpegQuality"/> (lossy).</summary>
    Jpeg,

    /// <summary>BMP, 24-bit colour or 8-bit grey, uncompressed.</summary>
    Bmp,
}

public static partial class ImageTensor
{
    /// <summary>The JPEG quality <see cref="Save(Tensor, string)"/> uses (ImageSharp's 1–100 scale).</summary>
    public const int JpegQuality = 95;

    /// <summary>The format an output path's extension names: <c>.png</c>, <c>.jpg</c>/<c>.jpeg</c> or <c>.bmp</c>.</summary>
    /// <exception cref="ArgumentException">Any other extension (the message lists the supported ones).</exception>
    public static ImageFileFormat FormatOf(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".png" => ImageFileFormat.Png,
            ".jpg" or ".jpeg" => ImageFileFormat.Jpeg,
            ".bmp" => ImageFileFormat.Bmp,
            var ext => throw new ArgumentException(
                $"'{path}': {(ext.Length == 0 ? "no file extension" : $"'{ext}' is not an image format that can be written")}; use .png, .jpg, .jpeg or .bmp.", nameof(path)),
        };
    }

    /// <summary>
    /// Writes a <c>[C, H, W]</c> or <c>[1, C, H, W]</c> tensor (C = 1 or 3, values in [0,1]) in the format its
    /// extension names (<see cref="FormatOf"/>): PNG, JPEG (quality <see cref="JpegQuality"/>) or BMP, 8 bits per channel.
    /// </summary>
    /// <remarks>Values are clamped to [0,1], multiplied by 255 and rounded half away from zero, as
    /// <see cref="SavePng"/>. Written atomically (temporary file, then rename). The pixels are converted a band of
    /// rows at a time, so the only full-size buffer besides the tensor is the 8-bit image itself.</remarks>
    /// <exception cref="ArgumentException">The extension names no supported format.</exception>
    /// <exception cref="TensorArgumentException">Wrong rank, batch larger than 1, channel count not 1 or 3, or NaN values.</exception>
    public static void Save(Tensor image, string path) => Save(image, path, FormatOf(path));

    /// <summary>Like <see cref="Save(Tensor, string)"/> with the format given explicitly.</summary>
    public static void Save(Tensor image, string path, ImageFileFormat format)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var img = ToImage8(image, nameof(image));
        bool grey = img is Image<L8>;
        IImageEncoder encoder = format switch
        {
            ImageFileFormat.Png => new PngEncoder { BitDepth = SixLabors.ImageSharp.Formats.Png.PngBitDepth.Bit8, ColorType = grey ? PngColorType.Grayscale : PngColorType.Rgb },
            ImageFileFormat.Jpeg => new JpegEncoder { Quality = JpegQuality, ColorType = grey ? JpegColorType.Luminance : JpegColorType.YCbCrRatio444 },
            ImageFileFormat.Bmp => new BmpEncoder { BitsPerPixel = grey ? BmpBitsPerPixel.Pixel8 : BmpBitsPerPixel.Pixel24 },
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown image format."),
        };
        Checkpoints.AtomicFile.Write(path, stream => img.Save(stream, encoder));
    }

    /// <summary>An 8-bit RGB or grey image of a [C,H,W] / [1,C,H,W] tensor, quantised a band of rows at a time.</summary>
    private static Image ToImage8(Tensor image, string argument)
    {
        var (c, h, w) = CheckImageShape(image, argument);
        Image result = c == 1 ? new Image<L8>(Codecs, w, h) : new Image<Rgb24>(Codecs, w, h);
        try
        {
            int bandRows = Math.Max(1, BandValues / (c * w));
            for (int y0 = 0; y0 < h; y0 += bandRows)
            {
                int rows = Math.Min(bandRows, h - y0);
                var bytes = QuantizeBand(image, c, h, w, y0, rows, argument);
                int first = y0;
                if (result is Image<Rgb24> rgb)
                    rgb.ProcessPixelRows(p =>
                    {
                        for (int r = 0; r < rows; r++)
                            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Rgb24>(bytes.AsSpan(r * w * 3, w * 3)).CopyTo(p.GetRowSpan(first + r));
                    });
                else
                    ((Image<L8>)result).ProcessPixelRows(p =>
                    {
                        for (int r = 0; r < rows; r++)
                            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, L8>(bytes.AsSpan(r * w, w)).CopyTo(p.GetRowSpan(first + r));
                    });
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    // Live for the process: a temporary Scalar could be finalized while libtorch reads it (TorchSharp 0.107).
    private static readonly Scalar EightBitMax = Numerics.Scalars.Constant(255.0), HalfLevel = Numerics.Scalars.Constant(0.5);

    // Rows [y0, y0 + rows) as interleaved 8-bit values (HWC). Quantize8 done in float64 by libtorch:
    // floor(v·255 + 0.5) equals Math.Round(v·255, AwayFromZero) for the clamped, non-negative v.
    private static byte[] QuantizeBand(Tensor image, int c, int h, int w, int y0, int rows, string argument)
    {
        using var scope = torch.NewDisposeScope();
        var band = image.detach().reshape(c, h, w)[.., TensorIndex.Slice(y0, y0 + rows), ..].to(torch.CPU).to_type(ScalarType.Float64);
        if (torch.isnan(band).any().item<bool>())
            throw new TensorArgumentException(argument, $"shape {Describe(image.shape)} contains NaN values.");
        var q = band.Clamp01().mul(EightBitMax).Plus(HalfLevel).floor().to_type(ScalarType.Byte).permute(1, 2, 0).contiguous();
        return q.data<byte>().ToArray();
    }

    private static (int C, int H, int W) CheckImageShape(Tensor image, string argument)
    {
        if (image is null) throw new TensorArgumentException(argument, "is null.");
        var shape = image.shape;
        if (shape.Length is not (3 or 4))
            throw new TensorArgumentException(argument, $"shape {Describe(shape)} must be [C,H,W] or [1,C,H,W].");
        if (shape.Length == 4 && shape[0] != 1)
            throw new TensorArgumentException(argument, $"shape {Describe(shape)} holds a batch of {shape[0]} images; pass one image ([1,C,H,W] or [C,H,W]).");
        long c = shape[^3], h = shape[^2], w = shape[^1];
        if (c is not (1 or 3))
            throw new TensorArgumentException(argument, $"shape {Describe(shape)} has {c} channels; 1 (grey) or 3 (RGB) are supported.");
        if (h <= 0 || w <= 0 || h * w > int.MaxValue / 3)
            throw new TensorArgumentException(argument, $"shape {Describe(shape)} has an unsupported size.");
        if (!image.is_floating_point())
            throw new TensorArgumentException(argument, $"dtype {image.dtype} must be a floating type with values in [0,1].");
        return ((int)c, (int)h, (int)w);
    }
}
