using System.Buffers.Binary;
using DaRcot.Rec.Errors;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using static TorchSharp.torch;
using SharpPngBitDepth = SixLabors.ImageSharp.Formats.Png.PngBitDepth;

namespace DaRcot.Rec.Imaging;

/// <summary>
/// Image files and ImageSharp images ↔ float32 tensors in [0,1], laid out <c>[1, C, H, W]</c> (channels R, G, B or a
/// single luminance channel).
/// </summary>
/// <remarks>
/// <para>Only PNG, JPEG and BMP decoders are enabled. Every file is identified from its header first and refused when
/// it has more than <see cref="ImageLoadOptions.MaxPixels"/> pixels, before any pixel is decoded. 8-bit values are
/// divided by 255, 16-bit PNG values by 65535.</para>
/// <para><b>Alpha is always dropped</b>: the stored colour values are kept as they are, not composited over a
/// background, because restoration networks are trained on opaque images and a background colour would be a guess.</para>
/// <para>Every failure to read a file (missing, empty, not an image, an unsupported format such as GIF, TIFF or WebP,
/// a truncated or corrupt file, too many pixels) raises <see cref="ImageDecodeException"/>, which names the file and
/// the reason. Truncated JPEG, PNG and BMP files are detected from their structure (no end-of-image marker after the
/// last scan, no IEND chunk, fewer pixel bytes than the header promises) because a decoder may otherwise return a
/// partially grey image without complaint.</para>
/// </remarks>
public static partial class ImageTensor
{
    /// <summary>ImageSharp configuration with only the PNG, JPEG and BMP codecs registered.</summary>
    internal static Configuration Codecs { get; } = new(new PngConfigurationModule(), new JpegConfigurationModule(), new BmpConfigurationModule());

    /// <summary>File extensions (lower case, with the dot) of the formats <see cref="Load"/> reads.</summary>
    public static IReadOnlyList<string> SupportedExtensions { get; } = new[] { ".png", ".jpg", ".jpeg", ".bmp" };

    /// <summary>
    /// Loads a PNG, JPEG or BMP file as a float32 tensor <c>[1, C, H, W]</c> in [0,1] on the CPU.
    /// </summary>
    /// <param name="path">The image file.</param>
    /// <param name="options">Channel mode and pixel limit; <see cref="ImageLoadOptions.Default"/> when null.</param>
    /// <returns>C = 3 in <see cref="ChannelMode.Rgb"/> mode; with <see cref="ChannelMode.KeepChannels"/>, C = 1 for
    /// greyscale files and 3 otherwise. Alpha is dropped.</returns>
    /// <exception cref="ImageDecodeException">The file is missing, empty, not a PNG/JPEG/BMP, truncated, corrupt or
    /// larger than <see cref="ImageLoadOptions.MaxPixels"/>.</exception>
    public static Tensor Load(string path, ImageLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= ImageLoadOptions.Default;
        if (options.MaxPixels <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxPixels, "MaxPixels must be positive.");
        if (options.Channels is not (ChannelMode.Rgb or ChannelMode.KeepChannels))
            throw new ArgumentOutOfRangeException(nameof(options), options.Channels, "Unknown channel mode.");

        var (bytes, kind, info) = ReadChecked(path, options);

        bool grey = IsGrey(kind, info);
        bool sixteen = kind == FileKind.Png && info.Metadata.GetPngMetadata().BitDepth == SharpPngBitDepth.Bit16;
        bool replicate = grey && options.Channels == ChannelMode.Rgb;
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            if (grey)
            {
                if (sixteen)
                {
                    using var img = Image.Load<L16>(Codecs, stream);
                    return FromPixels(img, replicate);
                }
                using var img8 = Image.Load<L8>(Codecs, stream);
                return FromPixels(img8, replicate);
            }
            if (sixteen)
            {
                using var img = Image.Load<Rgb48>(Codecs, stream);
                return FromPixels(img);
            }
            using var rgb = Image.Load<Rgb24>(Codecs, stream);
            return FromPixels(rgb);
        }
        catch (Exception ex) when (IsDecoderFailure(ex))
        {
            throw new ImageDecodeException(path, $"the {kind.ToString().ToUpperInvariant()} data is corrupt or truncated ({ex.Message})", ex);
        }
    }

    /// <summary>
    /// Reads only what <see cref="Load"/> checks before decoding (file type, structure, header, pixel limit) and returns
    /// the size and the channel count <see cref="Load"/> would give, so a caller can plan memory before any pixel is
    /// decoded.
    /// </summary>
    /// <exception cref="ImageDecodeException">As for <see cref="Load"/>.</exception>
    public static ImageHeader Identify(string path, ImageLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= ImageLoadOptions.Default;
        var (_, kind, info) = ReadChecked(path, options);
        bool grey = IsGrey(kind, info) && options.Channels == ChannelMode.KeepChannels;
        return new ImageHeader(info.Width, info.Height, grey ? 1 : 3);
    }

    // Everything Load checks before decoding pixels; returns the bytes, the detected format and the header.
    private static (byte[] Bytes, FileKind Kind, IImageInfo Info) ReadChecked(string path, ImageLoadOptions options)
    {
        var bytes = ReadFile(path);
        var kind = Sniff(bytes);
        switch (kind)
        {
            case FileKind.Gif: throw new ImageDecodeException(path, "GIF is not supported; only PNG, JPEG and BMP are.");
            case FileKind.Tiff: throw new ImageDecodeException(path, "TIFF is not supported; only PNG, JPEG and BMP are.");
            case FileKind.WebP: throw new ImageDecodeException(path, "WebP is not supported; only PNG, JPEG and BMP are.");
            case FileKind.Unknown: throw new ImageDecodeException(path, "the file is not a PNG, JPEG or BMP image (unrecognized content).");
        }

        // Structure first: cheap, reads no pixels, and gives a precise reason for a cut-off file.
        var incomplete = kind switch
        {
            FileKind.Jpeg => CheckJpegComplete(bytes),
            FileKind.Png => CheckPngComplete(bytes),
            FileKind.Bmp => CheckBmpComplete(bytes),
            _ => null,
        };
        if (incomplete is not null) throw new ImageDecodeException(path, incomplete);

        IImageInfo? info;
        try
        {
            using var header = new MemoryStream(bytes, writable: false);
            info = Image.Identify(Codecs, header, out _);
        }
        catch (Exception ex) when (IsDecoderFailure(ex))
        {
            throw new ImageDecodeException(path, $"the {kind.ToString().ToUpperInvariant()} header is truncated or corrupt ({ex.Message})", ex);
        }
        if (info is null) throw new ImageDecodeException(path, $"the {kind.ToString().ToUpperInvariant()} header could not be read.");
        if (info.Width <= 0 || info.Height <= 0)
            throw new ImageDecodeException(path, $"the header gives an empty size {info.Width}x{info.Height}.");
        long pixels = (long)info.Width * info.Height;
        if (pixels > options.MaxPixels)
            throw new ImageDecodeException(path, $"{info.Width}x{info.Height} = {pixels:N0} pixels exceeds the limit of {options.MaxPixels:N0} (ImageLoadOptions.MaxPixels); it was not decoded.");
        // An IEND can follow image data that stops after a few rows (the decoder would fill the rest with black);
        // only inflating the data tells. After the pixel limit, so a huge header is refused without inflating.
        if (kind == FileKind.Png && PngIntegrity.Check(bytes) is { } shortData) throw new ImageDecodeException(path, shortData);
        return (bytes, kind, info);
    }

    /// <summary>Loads several images of one size into one tensor <c>[N, C, H, W]</c>.</summary>
    /// <param name="paths">The image files (at least one).</param>
    /// <param name="options">As for <see cref="Load"/>.</param>
    /// <param name="cancellationToken">Checked between files.</param>
    /// <exception cref="ImageDecodeException">A file cannot be loaded.</exception>
    /// <exception cref="TensorArgumentException">The images differ in size or channel count.</exception>
    public static Tensor LoadBatch(IReadOnlyList<string> paths, ImageLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (paths.Count == 0) throw new ArgumentException("At least one path is needed.", nameof(paths));
        using var scope = torch.NewDisposeScope();
        var images = new List<Tensor>(paths.Count);
        foreach (var path in paths)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var image = Load(path, options);
            if (images.Count > 0 && !image.shape.SequenceEqual(images[0].shape))
                throw new TensorArgumentException(nameof(paths),
                    $"'{path}' is {Describe(image.shape)} but '{paths[0]}' is {Describe(images[0].shape)}; a batch needs images of one size and channel count.");
            images.Add(image);
        }
        return torch.cat(images, 0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Writes a <c>[C, H, W]</c> or <c>[1, C, H, W]</c> tensor (C = 1 or 3, values in [0,1]) as a PNG.
    /// </summary>
    /// <remarks>Values are clamped to [0,1], multiplied by 255 (or 65535) and rounded to the nearest integer, halves
    /// away from zero. The file is written to a temporary file in the same folder and then renamed over
    /// <paramref name="path"/>, so readers never see a half-written image. Missing folders are created.</remarks>
    /// <param name="image">The image; any floating dtype and device.</param>
    /// <param name="path">The output file.</param>
    /// <param name="depth">8 or 16 bits per channel.</param>
    /// <exception cref="TensorArgumentException">Wrong rank, batch larger than 1, channel count not 1 or 3, or NaN values.</exception>
    public static void SavePng(Tensor image, string path, PngBitDepth depth = PngBitDepth.Eight)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (depth is not (PngBitDepth.Eight or PngBitDepth.Sixteen))
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "Only 8- and 16-bit PNGs are written.");
        if (depth == PngBitDepth.Eight)
        {
            Save(image, path, ImageFileFormat.Png);
            return;
        }
        var (c, h, w, values) = ToPlanar(image, nameof(image));
        using Image img = BuildImage16(c, h, w, values);
        var encoder = new PngEncoder
        {
            BitDepth = SharpPngBitDepth.Bit16,
            ColorType = c == 1 ? PngColorType.Grayscale : PngColorType.Rgb,
        };

        DaRcot.Rec.Checkpoints.AtomicFile.Write(path, stream => img.Save(stream, encoder));
    }

    /// <summary>Converts an RGB image to a float32 tensor <c>[1, 3, H, W]</c> in [0,1].</summary>
    public static Tensor FromImage(Image<Rgb24> image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return FromPixels(image);
    }

    /// <summary>Converts a greyscale image to a float32 tensor <c>[1, 1, H, W]</c> in [0,1].</summary>
    public static Tensor FromImage(Image<L8> image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return FromPixels(image, replicate: false);
    }

    /// <summary>
    /// Converts a <c>[C, H, W]</c> or <c>[1, C, H, W]</c> tensor to an 8-bit RGB image (clamped, ×255, rounded half away
    /// from zero). A single-channel tensor is replicated into R, G and B.
    /// </summary>
    /// <exception cref="TensorArgumentException">Wrong rank, batch larger than 1, channel count not 1 or 3, or NaN values.</exception>
    public static Image<Rgb24> ToRgb24(Tensor image)
    {
        var (c, h, w, values) = ToPlanar(image, nameof(image));
        var plane = h * w;
        var bytes = new byte[plane * 3];
        for (int i = 0; i < plane; i++)
        {
            int o = 3 * i;
            bytes[o] = Quantize8(values[i]);
            bytes[o + 1] = Quantize8(values[c == 3 ? plane + i : i]);
            bytes[o + 2] = Quantize8(values[c == 3 ? 2 * plane + i : i]);
        }
        return Image.LoadPixelData<Rgb24>(Codecs, bytes, w, h);
    }

    /// <summary>
    /// Converts a single-channel <c>[1, H, W]</c> or <c>[1, 1, H, W]</c> tensor to an 8-bit greyscale image (clamped,
    /// ×255, rounded half away from zero). For RGB tensors convert to luma first (e.g. <c>Metrics.ColorSpaces.RgbToY</c>).
    /// </summary>
    /// <exception cref="TensorArgumentException">Wrong rank, batch larger than 1, more than one channel, or NaN values.</exception>
    public static Image<L8> ToL8(Tensor image)
    {
        var (c, h, w, values) = ToPlanar(image, nameof(image));
        if (c != 1)
            throw new TensorArgumentException(nameof(image), $"shape {Describe(image.shape)} has {c} channels; an L8 image needs exactly 1 (convert RGB to luma first).");
        var bytes = new byte[values.Length];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = Quantize8(values[i]);
        return Image.LoadPixelData<L8>(Codecs, bytes, w, h);
    }

    // ---------------------------------------------------------------- pixels → tensor

    // Decoded pixels go into the tensor a band of rows at a time: no full-size managed copy of the image exists next
    // to the tensor (a 100-megapixel image would otherwise need 1.2 GB twice).
    private const int BandValues = 1 << 22;

    private delegate void RowReader<TPixel>(ReadOnlySpan<TPixel> row, float[] band, int offset, int plane);

    private static Tensor FromPixels<TPixel>(Image<TPixel> image, int channels, RowReader<TPixel> read)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        int h = image.Height, w = image.Width;
        var result = torch.empty(new long[] { 1, channels, h, w }, dtype: ScalarType.Float32);
        try
        {
            int bandRows = Math.Max(1, BandValues / (channels * w));
            for (int y0 = 0; y0 < h; y0 += bandRows)
            {
                int rows = Math.Min(bandRows, h - y0), plane = rows * w;
                var band = new float[channels * plane];
                int first = y0;
                image.ProcessPixelRows(pixels =>
                {
                    for (int r = 0; r < rows; r++) read(pixels.GetRowSpan(first + r), band, r * w, plane);
                });
                using var chunk = torch.tensor(band, new long[] { 1, channels, rows, w });
                using var target = result[.., .., TensorIndex.Slice(y0, y0 + rows), ..];
                target.copy_(chunk);
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    private static Tensor FromPixels(Image<Rgb24> image) => FromPixels<Rgb24>(image, 3, (row, band, o, plane) =>
    {
        for (int x = 0; x < row.Length; x++)
        {
            var p = row[x];
            band[o + x] = p.R / 255f;
            band[plane + o + x] = p.G / 255f;
            band[2 * plane + o + x] = p.B / 255f;
        }
    });

    private static Tensor FromPixels(Image<Rgb48> image) => FromPixels<Rgb48>(image, 3, (row, band, o, plane) =>
    {
        for (int x = 0; x < row.Length; x++)
        {
            var p = row[x];
            band[o + x] = p.R / 65535f;
            band[plane + o + x] = p.G / 65535f;
            band[2 * plane + o + x] = p.B / 65535f;
        }
    });

    private static Tensor FromPixels(Image<L8> image, bool replicate) => FromPixels<L8>(image, replicate ? 3 : 1, (row, band, o, plane) =>
    {
        for (int x = 0; x < row.Length; x++) Grey(band, o + x, plane, row[x].PackedValue / 255f, replicate);
    });

    private static Tensor FromPixels(Image<L16> image, bool replicate) => FromPixels<L16>(image, replicate ? 3 : 1, (row, band, o, plane) =>
    {
        for (int x = 0; x < row.Length; x++) Grey(band, o + x, plane, row[x].PackedValue / 65535f, replicate);
    });

    private static void Grey(float[] band, int i, int plane, float v, bool replicate)
    {
        band[i] = v;
        if (!replicate) return;
        band[plane + i] = v;
        band[2 * plane + i] = v;
    }

    // ---------------------------------------------------------------- tensor → pixels

    /// <summary>Validates an image tensor and returns its values clamped to [0,1] in planar CHW order.</summary>
    private static (int C, int H, int W, float[] Values) ToPlanar(Tensor image, string argument)
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

        using var scope = torch.NewDisposeScope();
        var x = image.detach().to(torch.CPU).to_type(ScalarType.Float32).reshape(c, h, w);
        if (torch.isnan(x).any().item<bool>())
            throw new TensorArgumentException(argument, $"shape {Describe(shape)} contains NaN values.");
        var values = x.Clamp01().contiguous().data<float>().ToArray();
        return ((int)c, (int)h, (int)w, values);
    }

    private static Image BuildImage16(int c, int h, int w, float[] values)
    {
        if (c == 1)
        {
            var grey = new L16[values.Length];
            for (int i = 0; i < grey.Length; i++) grey[i] = new L16(Quantize16(values[i]));
            return Image.LoadPixelData(Codecs, grey, w, h);
        }
        int plane = h * w;
        var rgb = new Rgb48[plane];
        for (int i = 0; i < plane; i++)
            rgb[i] = new Rgb48(Quantize16(values[i]), Quantize16(values[plane + i]), Quantize16(values[2 * plane + i]));
        return Image.LoadPixelData(Codecs, rgb, w, h);
    }

    // Values are already clamped; the double product keeps v = k/255f mapping back to exactly k.
    private static byte Quantize8(float v) => (byte)Math.Round(v * 255.0, MidpointRounding.AwayFromZero);

    private static ushort Quantize16(float v) => (ushort)Math.Round(v * 65535.0, MidpointRounding.AwayFromZero);

    // ---------------------------------------------------------------- file checks

    private enum FileKind { Unknown, Png, Jpeg, Bmp, Gif, Tiff, WebP }

    private static byte[] ReadFile(string path)
    {
        // The final target's type, not the link's: a link named .png to /dev/zero or a FIFO must not be opened.
        Files.RegularFile.Require(path, reason => new ImageDecodeException(path, "the path " + reason));
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var length = stream.Length;
            if (length == 0) throw new ImageDecodeException(path, "the file is empty.");
            if (length > Array.MaxLength) throw new ImageDecodeException(path, $"the file is too large ({length:N0} bytes).");
            var bytes = new byte[length];
            stream.ReadExactly(bytes);
            return bytes;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ImageDecodeException(path, $"the file cannot be read ({ex.Message})", ex);
        }
    }

    private static FileKind Sniff(ReadOnlySpan<byte> b)
    {
        if (b.StartsWith(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A })) return FileKind.Png;
        if (b.StartsWith(new byte[] { 0xFF, 0xD8, 0xFF })) return FileKind.Jpeg;
        if (b.StartsWith("BM"u8)) return FileKind.Bmp;
        if (b.StartsWith("GIF87a"u8) || b.StartsWith("GIF89a"u8)) return FileKind.Gif;
        if (b.StartsWith("II*\0"u8) || b.StartsWith("MM\0*"u8)) return FileKind.Tiff;
        if (b.Length >= 12 && b.StartsWith("RIFF"u8) && b.Slice(8, 4).SequenceEqual("WEBP"u8)) return FileKind.WebP;
        return FileKind.Unknown;
    }

    private static bool IsGrey(FileKind kind, IImageInfo info) => kind switch
    {
        FileKind.Png => info.Metadata.GetPngMetadata().ColorType is PngColorType.Grayscale or PngColorType.GrayscaleWithAlpha,
        FileKind.Jpeg => info.Metadata.GetJpegMetadata().ColorType == JpegColorType.Luminance,
        _ => false,
    };

    /// <summary>A JPEG must end its last scan with an EOI marker; without it the entropy data was cut off.</summary>
    private static string? CheckJpegComplete(byte[] b)
    {
        // Inside entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so FF DA / FF D9 byte pairs
        // are real markers (an EXIF thumbnail has its own, but those come before the main image's scans).
        int lastSos = -1, lastEoi = -1;
        for (int i = b.Length - 2; i >= 0 && (lastSos < 0 || lastEoi < 0); i--)
        {
            if (b[i] != 0xFF) continue;
            if (b[i + 1] == 0xDA && lastSos < 0) lastSos = i;
            else if (b[i + 1] == 0xD9 && lastEoi < 0) lastEoi = i;
        }
        if (lastSos < 0) return "the JPEG has no image scan (SOS marker); it is truncated or corrupt.";
        if (lastEoi < lastSos) return "the JPEG is truncated: its last scan has no end-of-image (EOI) marker.";
        return null;
    }

    /// <summary>A PNG must contain its IEND chunk; without it image data was cut off.</summary>
    private static string? CheckPngComplete(byte[] b)
    {
        ReadOnlySpan<byte> iend = [0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D'];
        return b.AsSpan().LastIndexOf(iend) < 0 ? "the PNG is truncated: it has no IEND chunk." : null;
    }

    /// <summary>An uncompressed BMP must hold as many pixel bytes as its header describes.</summary>
    private static string? CheckBmpComplete(byte[] b)
    {
        if (b.Length < 34) return "the BMP header is truncated.";
        uint offset = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(10));
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(14));
        if (headerSize < 40) return null; // OS/2 core headers: leave the checks to the decoder
        long width = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(18));
        long height = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(22)));
        int bitsPerPixel = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(28));
        uint compression = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(30));
        if (compression is not (0 or 3 or 6)) return null; // RLE/embedded codecs: sizes are not fixed
        long stride = (bitsPerPixel * width + 31) / 32 * 4;
        long needed = offset + stride * height;
        return b.Length < needed ? $"the BMP is truncated: {b.Length:N0} bytes, but its header needs {needed:N0}." : null;
    }

    private static bool IsDecoderFailure(Exception ex) =>
        ex is ImageFormatException or NotSupportedException or InvalidOperationException or ArgumentException
            or IndexOutOfRangeException or EndOfStreamException or IOException or InvalidDataException
            or OverflowException or NullReferenceException;

    private static string Describe(long[] shape) => "[" + string.Join(",", shape) + "]";
}
