using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Tests.Infrastructure;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using static TorchSharp.torch;
using PngBitDepth = DaRcot.Rec.Imaging.PngBitDepth;
using SharpPngBitDepth = SixLabors.ImageSharp.Formats.Png.PngBitDepth;

namespace DaRcot.Rec.Tests.Imaging;

public sealed class ImageTensorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-imaging-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Temp(string name) => System.IO.Path.Combine(_dir, name);

    /// <summary>A deterministic RGB test pattern that uses all 256 levels in every channel.</summary>
    private static Image<Rgb24> Pattern(int w = 37, int h = 29)
    {
        var img = new Image<Rgb24>(w, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int k = y * w + x;
                img[x, y] = new Rgb24((byte)(k % 256), (byte)((k * 7 + 3) % 256), (byte)((k * 13 + 100) % 256));
            }
        return img;
    }

    private static TPixel[] Pixels<TPixel>(string path) where TPixel : unmanaged, IPixel<TPixel>
    {
        using var img = Image.Load<TPixel>(path);
        var pixels = new TPixel[img.Width * img.Height];
        img.Frames.RootFrame.CopyPixelDataTo(pixels.AsSpan());
        return pixels;
    }

    private static void AssertSame(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.eq(actual).all().item<bool>(), "tensors differ");
    }

    private static float At(Tensor t, params long[] index) => t[index.Select(i => TensorIndex.Single(i)).ToArray()].item<float>();

    // ------------------------------------------------------------------ loading values

    [Fact]
    public void Load_Rgb8Png_GivesPixelOver255_InChw()
    {
        var path = Temp("pattern.png");
        using (var img = Pattern()) img.SaveAsPng(path);
        using var t = ImageTensor.Load(path);
        Assert.Equal(new long[] { 1, 3, 29, 37 }, t.shape);
        Assert.Equal(ScalarType.Float32, t.dtype);
        // pixel (x=5, y=2): k = 2*37+5 = 79 → (79, 79*7+3 = 556 % 256 = 44, 79*13+100 = 1127 % 256 = 103)
        Assert.Equal(79 / 255f, At(t, 0, 0, 2, 5));
        Assert.Equal(44 / 255f, At(t, 0, 1, 2, 5));
        Assert.Equal(103 / 255f, At(t, 0, 2, 2, 5));
    }

    [Fact]
    public void RoundTrip_SyntheticRgb8_LoadSaveLoad_IsIdentical()
    {
        var src = Temp("src.png");
        var dst = Temp("dst.png");
        using (var img = Pattern()) img.SaveAsPng(src);
        using var first = ImageTensor.Load(src);
        ImageTensor.SavePng(first, dst);
        using var second = ImageTensor.Load(dst);
        AssertSame(first, second);
        Assert.Equal(Pixels<Rgb24>(src), Pixels<Rgb24>(dst));
    }

    [SkippableFact]
    public void RoundTrip_Photo_LoadSaveLoad_IsIdentical()
    {
        var src = Fixtures.Path("images", "chelsea.png");
        var dst = Temp("chelsea.png");
        using var first = ImageTensor.Load(src);
        Assert.Equal(new long[] { 1, 3, 300, 451 }, first.shape);
        ImageTensor.SavePng(first, dst);
        using var second = ImageTensor.Load(dst);
        AssertSame(first, second);
        Assert.Equal(Pixels<Rgb24>(src), Pixels<Rgb24>(dst));
    }

    [Fact]
    public void Sixteen_BitPng_LoadsOver65535_AndSavesBack()
    {
        var src = Temp("rgb48.png");
        ushort[] levels = { 0, 1, 257, 12345, 40000, 65534, 65535 };
        using (var img = new Image<Rgb48>(levels.Length, 2))
        {
            for (int x = 0; x < levels.Length; x++)
            {
                img[x, 0] = new Rgb48(levels[x], levels[levels.Length - 1 - x], 777);
                img[x, 1] = new Rgb48(1000, levels[x], levels[x]);
            }
            img.SaveAsPng(src, new PngEncoder { BitDepth = SharpPngBitDepth.Bit16, ColorType = PngColorType.Rgb });
        }
        using var t = ImageTensor.Load(src);
        Assert.Equal(new long[] { 1, 3, 2, levels.Length }, t.shape);
        Assert.Equal(12345 / 65535f, At(t, 0, 0, 0, 3));
        Assert.Equal(40000 / 65535f, At(t, 0, 1, 0, 2));
        Assert.Equal(777 / 65535f, At(t, 0, 2, 0, 6));
        Assert.Equal(1 / 65535f, At(t, 0, 2, 1, 1));

        var dst = Temp("rgb48-out.png");
        ImageTensor.SavePng(t, dst, PngBitDepth.Sixteen);
        using (var info = Image.Load(dst))
            Assert.Equal(SharpPngBitDepth.Bit16, info.Metadata.GetPngMetadata().BitDepth);
        Assert.Equal(Pixels<Rgb48>(src), Pixels<Rgb48>(dst));
        using var again = ImageTensor.Load(dst);
        AssertSame(t, again);
    }

    [Fact]
    public void Sixteen_BitGreyPng_KeepChannels_GivesOneChannel()
    {
        var src = Temp("l16.png");
        using (var img = new Image<L16>(3, 1))
        {
            img[0, 0] = new L16(0);
            img[1, 0] = new L16(30000);
            img[2, 0] = new L16(65535);
            img.SaveAsPng(src, new PngEncoder { BitDepth = SharpPngBitDepth.Bit16, ColorType = PngColorType.Grayscale });
        }
        using var keep = ImageTensor.Load(src, new ImageLoadOptions { Channels = ChannelMode.KeepChannels });
        Assert.Equal(new long[] { 1, 1, 1, 3 }, keep.shape);
        Assert.Equal(30000 / 65535f, At(keep, 0, 0, 0, 1));
        var dst = Temp("l16-out.png");
        ImageTensor.SavePng(keep, dst, PngBitDepth.Sixteen);
        Assert.Equal(Pixels<L16>(src), Pixels<L16>(dst));
    }

    [Fact]
    public void Grey8_RgbModeReplicates_KeepChannelsKeepsOne_AndSavesGrey()
    {
        var src = Temp("grey.png");
        using (var img = new Image<L8>(4, 3))
        {
            for (int y = 0; y < 3; y++) for (int x = 0; x < 4; x++) img[x, y] = new L8((byte)(y * 60 + x * 10));
            img.SaveAsPng(src, new PngEncoder { ColorType = PngColorType.Grayscale, BitDepth = SharpPngBitDepth.Bit8 });
        }
        using var rgb = ImageTensor.Load(src);
        Assert.Equal(new long[] { 1, 3, 3, 4 }, rgb.shape);
        for (int c = 0; c < 3; c++) Assert.Equal(130 / 255f, At(rgb, 0, c, 2, 1));

        using var keep = ImageTensor.Load(src, new ImageLoadOptions { Channels = ChannelMode.KeepChannels });
        Assert.Equal(new long[] { 1, 1, 3, 4 }, keep.shape);
        Assert.Equal(70 / 255f, At(keep, 0, 0, 1, 1));

        var dst = Temp("grey-out.png");
        ImageTensor.SavePng(keep, dst);
        using (var saved = Image.Load(dst))
            Assert.Equal(PngColorType.Grayscale, saved.Metadata.GetPngMetadata().ColorType);
        Assert.Equal(Pixels<L8>(src), Pixels<L8>(dst));
    }

    [Fact]
    public void Rgba_AlphaIsDropped_ColourKeptAsStored()
    {
        var src = Temp("rgba.png");
        using (var img = new Image<Rgba32>(2, 1))
        {
            img[0, 0] = new Rgba32(200, 100, 50, 0);    // fully transparent: colour must survive, not become black
            img[1, 0] = new Rgba32(10, 20, 30, 128);
            img.SaveAsPng(src, new PngEncoder { ColorType = PngColorType.RgbWithAlpha });
        }
        using var t = ImageTensor.Load(src, new ImageLoadOptions { Channels = ChannelMode.KeepChannels });
        Assert.Equal(new long[] { 1, 3, 1, 2 }, t.shape);
        Assert.Equal(200 / 255f, At(t, 0, 0, 0, 0));
        Assert.Equal(50 / 255f, At(t, 0, 2, 0, 0));
        Assert.Equal(20 / 255f, At(t, 0, 1, 0, 1));
    }

    [Fact]
    public void GreyWithAlpha_KeepChannels_GivesOneChannel()
    {
        var src = Temp("la.png");
        using (var img = new Image<La16>(2, 1))
        {
            img[0, 0] = new La16(90, 0);
            img[1, 0] = new La16(180, 255);
            img.SaveAsPng(src, new PngEncoder { ColorType = PngColorType.GrayscaleWithAlpha });
        }
        using var t = ImageTensor.Load(src, new ImageLoadOptions { Channels = ChannelMode.KeepChannels });
        Assert.Equal(new long[] { 1, 1, 1, 2 }, t.shape);
        Assert.Equal(90 / 255f, At(t, 0, 0, 0, 0));
        Assert.Equal(180 / 255f, At(t, 0, 0, 0, 1));
    }

    [SkippableFact]
    public void RgbaPhoto_Loads_AsThreeChannels()
    {
        using var t = ImageTensor.Load(Fixtures.Path("images", "horse.png"), new ImageLoadOptions { Channels = ChannelMode.KeepChannels });
        Assert.Equal(new long[] { 1, 3, 328, 400 }, t.shape);
        Assert.InRange(t.min().item<float>(), 0f, 1f);
        Assert.InRange(t.max().item<float>(), 0f, 1f);
    }

    [Fact]
    public void Bmp24_LoadsExactly()
    {
        var src = Temp("pattern.bmp");
        using (var img = Pattern(9, 5)) img.SaveAsBmp(src, new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel24 });
        var png = Temp("pattern.png");
        using (var img = Pattern(9, 5)) img.SaveAsPng(png);
        using var fromBmp = ImageTensor.Load(src);
        using var fromPng = ImageTensor.Load(png);
        AssertSame(fromBmp, fromPng);
    }

    [Fact]
    public void Jpeg_ColourAndGrey_Load()
    {
        var colour = Temp("flat.jpg");
        using (var img = new Image<Rgb24>(16, 16, new Rgb24(200, 40, 90))) img.SaveAsJpeg(colour, new JpegEncoder { Quality = 100 });
        using var t = ImageTensor.Load(colour);
        Assert.Equal(new long[] { 1, 3, 16, 16 }, t.shape);
        // A flat block survives JPEG within a couple of levels (YCbCr rounding).
        Assert.InRange(At(t, 0, 0, 8, 8) * 255f, 197f, 203f);
        Assert.InRange(At(t, 0, 1, 8, 8) * 255f, 37f, 43f);

        var grey = Temp("grey.jpg");
        using (var img = new Image<L8>(16, 16, new L8(77))) img.SaveAsJpeg(grey, new JpegEncoder { Quality = 100, ColorType = JpegColorType.Luminance });
        using var g = ImageTensor.Load(grey, new ImageLoadOptions { Channels = ChannelMode.KeepChannels });
        Assert.Equal(new long[] { 1, 1, 16, 16 }, g.shape);
        Assert.InRange(At(g, 0, 0, 3, 3) * 255f, 76f, 78f);
    }

    // ------------------------------------------------------------------ saving

    [Fact]
    public void SavePng_ClampsScalesAndRoundsHalfAwayFromZero()
    {
        // 0.5·255 = 127.5 exactly → 128; 0.2·255 = 51.000001 → 51; out-of-range values clamp.
        using var t = torch.tensor(new float[] { -0.3f, 0f, 0.2f, 0.5f, 1f, 1.7f }, new long[] { 1, 1, 6 });
        var path = Temp("levels.png");
        ImageTensor.SavePng(t, path);
        Assert.Equal(new byte[] { 0, 0, 51, 128, 255, 255 }, Pixels<L8>(path).Select(p => p.PackedValue).ToArray());
    }

    [Fact]
    public void SavePng_OverwritesAtomically_LeavesNoTempFiles()
    {
        var path = Temp("out.png");
        File.WriteAllText(path, "old");
        using var t = torch.full(new long[] { 3, 4, 5 }, 0.25f);
        ImageTensor.SavePng(t, path);
        Assert.Equal(new[] { path }, Directory.GetFiles(_dir));
        Assert.All(Pixels<Rgb24>(path), p => Assert.Equal(new Rgb24(64, 64, 64), p)); // 63.75 → 64
    }

    [Fact]
    public void SavePng_CreatesMissingFolder()
    {
        var path = Temp(System.IO.Path.Combine("a", "b", "c.png"));
        using var t = torch.zeros(1, 3, 2, 2);
        ImageTensor.SavePng(t, path);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void SavePng_BatchOfTwo_Throws()
    {
        using var t = torch.zeros(2, 3, 4, 4);
        var ex = Assert.Throws<TensorArgumentException>(() => ImageTensor.SavePng(t, Temp("x.png")));
        Assert.Equal("image", ex.Argument);
        Assert.Contains("[2,3,4,4]", ex.Message);
        Assert.False(File.Exists(Temp("x.png")));
    }

    [Theory]
    [InlineData(new long[] { 2, 4, 4 })]
    [InlineData(new long[] { 4, 4 })]
    [InlineData(new long[] { 1, 1, 1, 4, 4 })]
    public void SavePng_BadShape_Throws(long[] shape)
    {
        using var t = torch.zeros(shape);
        Assert.Throws<TensorArgumentException>(() => ImageTensor.SavePng(t, Temp("x.png")));
    }

    [Fact]
    public void SavePng_NaN_Throws()
    {
        using var t = torch.tensor(new float[] { 0.1f, float.NaN, 0.3f, 0.4f }, new long[] { 1, 2, 2 });
        var ex = Assert.Throws<TensorArgumentException>(() => ImageTensor.SavePng(t, Temp("x.png")));
        Assert.Contains("NaN", ex.Message);
    }

    // ------------------------------------------------------------------ conversions and batches

    [Fact]
    public void FromImage_ToRgb24_RoundTrip()
    {
        using var img = Pattern(6, 4);
        using var t = ImageTensor.FromImage(img);
        Assert.Equal(new long[] { 1, 3, 4, 6 }, t.shape);
        Assert.Equal(img[5, 3].G / 255f, At(t, 0, 1, 3, 5));
        using var back = ImageTensor.ToRgb24(t);
        for (int y = 0; y < 4; y++) for (int x = 0; x < 6; x++) Assert.Equal(img[x, y], back[x, y]);
    }

    [Fact]
    public void FromImage_ToL8_RoundTrip_AndToL8RefusesRgb()
    {
        using var img = new Image<L8>(3, 2);
        img[2, 1] = new L8(201);
        using var t = ImageTensor.FromImage(img);
        Assert.Equal(new long[] { 1, 1, 2, 3 }, t.shape);
        Assert.Equal(201 / 255f, At(t, 0, 0, 1, 2));
        using var back = ImageTensor.ToL8(t.squeeze(0));
        Assert.Equal(201, back[2, 1].PackedValue);
        using var grey3 = ImageTensor.ToRgb24(t);
        Assert.Equal(new Rgb24(201, 201, 201), grey3[2, 1]);
        using var rgb = torch.zeros(3, 2, 2);
        Assert.Throws<TensorArgumentException>(() => ImageTensor.ToL8(rgb));
    }

    [Fact]
    public void LoadBatch_StacksSameSize_RefusesDifferentSizes()
    {
        var a = Temp("a.png");
        var b = Temp("b.png");
        var c = Temp("c.png");
        using (var img = Pattern(8, 6)) img.SaveAsPng(a);
        using (var img = new Image<Rgb24>(8, 6, new Rgb24(1, 2, 3))) img.SaveAsPng(b);
        using (var img = Pattern(6, 8)) img.SaveAsPng(c);
        using var batch = ImageTensor.LoadBatch(new[] { a, b });
        Assert.Equal(new long[] { 2, 3, 6, 8 }, batch.shape);
        Assert.Equal(3 / 255f, At(batch, 1, 2, 5, 7));
        var ex = Assert.Throws<TensorArgumentException>(() => ImageTensor.LoadBatch(new[] { a, c }));
        Assert.Contains("c.png", ex.Message);
        Assert.Contains("[1,3,8,6]", ex.Message);
    }

    // ------------------------------------------------------------------ bad input

    private static ImageDecodeException AssertRefused(string path, string reason, ImageLoadOptions? options = null)
    {
        var ex = Assert.Throws<ImageDecodeException>(() => ImageTensor.Load(path, options));
        Assert.Equal(path, ex.Path);
        Assert.Contains(path, ex.Message);
        // The reason follows the quoted path (which may itself contain words like "truncated").
        var reasonText = ex.Message[(ex.Message.IndexOf(path, StringComparison.Ordinal) + path.Length)..];
        Assert.Contains(reason, reasonText, StringComparison.OrdinalIgnoreCase);
        return ex;
    }

    [Fact]
    public void Missing_Empty_NonImage_Folder_AreRefused()
    {
        AssertRefused(Temp("nope.png"), "does not exist");
        var empty = Temp("empty.png");
        File.WriteAllBytes(empty, Array.Empty<byte>());
        AssertRefused(empty, "empty");
        var text = Temp("notes.png");
        File.WriteAllText(text, "this is not an image at all, just some text");
        AssertRefused(text, "not a PNG, JPEG or BMP");
        AssertRefused(_dir, "folder");
    }

    [Fact]
    public void Gif_And_Tiff_AreRefusedAsUnsupported()
    {
        var gif = Temp("a.gif");
        using (var img = Pattern(8, 8)) img.Save(gif, new GifEncoder());
        AssertRefused(gif, "GIF is not supported");
        var tiff = Temp("a.tiff");
        using (var img = Pattern(8, 8)) img.Save(tiff, new TiffEncoder());
        AssertRefused(tiff, "TIFF is not supported");
    }

    [SkippableFact]
    public void TruncatedJpeg_Fixture_IsRefused()
    {
        var path = Fixtures.Path("images", "truncated.jpg");
        AssertRefused(path, "truncated");
    }

    [Fact]
    public void TruncatedJpeg_Synthetic_IsRefused()
    {
        var full = Temp("full.jpg");
        using (var img = Pattern(64, 64)) img.SaveAsJpeg(full, new JpegEncoder { Quality = 90 });
        var bytes = File.ReadAllBytes(full);
        var cut = Temp("cut.jpg");
        File.WriteAllBytes(cut, bytes[..(bytes.Length * 2 / 3)]);
        using (ImageTensor.Load(full)) { }
        AssertRefused(cut, "truncated");
    }

    [Fact]
    public void TruncatedPng_IsRefused()
    {
        var full = Temp("full.png");
        using (var img = Pattern(64, 64)) img.SaveAsPng(full);
        var bytes = File.ReadAllBytes(full);
        var cut = Temp("cut.png");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        AssertRefused(cut, "truncated");
    }

    [Fact]
    public void TruncatedBmp_IsRefused()
    {
        var full = Temp("full.bmp");
        using (var img = Pattern(32, 32)) img.SaveAsBmp(full);
        var bytes = File.ReadAllBytes(full);
        var cut = Temp("cut.bmp");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        AssertRefused(cut, "truncated");
    }

    [Fact]
    public void CorruptPngData_IsRefused()
    {
        var full = Temp("full.png");
        using (var img = Pattern(64, 64)) img.SaveAsPng(full);
        var bytes = File.ReadAllBytes(full);
        // Overwrite the middle of the compressed IDAT data; chunk lengths and IEND stay intact.
        for (int i = 100; i < bytes.Length - 100; i++) bytes[i] = (byte)(i * 31);
        var bad = Temp("bad.png");
        File.WriteAllBytes(bad, bytes);
        Assert.Throws<ImageDecodeException>(() => ImageTensor.Load(bad));
    }

    [Fact]
    public void TooManyPixels_IsRefusedFromTheHeader()
    {
        var small = Temp("small.png");
        using (var img = Pattern(20, 10)) img.SaveAsPng(small);
        AssertRefused(small, "exceeds the limit", new ImageLoadOptions { MaxPixels = 199 });
        using (ImageTensor.Load(small, new ImageLoadOptions { MaxPixels = 200 })) { }

        // A 60000x60000 header with no pixel data: decoding would need ~10 GB, so it must be refused unread.
        var huge = Temp("huge.png");
        File.WriteAllBytes(huge, PngHeaderOnly(60000, 60000));
        AssertRefused(huge, "exceeds the limit");
    }

    /// <summary>PNG signature, an IHDR for an 8-bit RGB image of the given size, and IEND (valid CRCs).</summary>
    private static byte[] PngHeaderOnly(int width, int height)
    {
        var output = new List<byte> { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
        var ihdr = new List<byte>();
        ihdr.AddRange(BigEndian(width));
        ihdr.AddRange(BigEndian(height));
        ihdr.AddRange(new byte[] { 8, 2, 0, 0, 0 });
        Chunk(output, "IHDR", ihdr.ToArray());
        Chunk(output, "IEND", Array.Empty<byte>());
        return output.ToArray();

        static byte[] BigEndian(int v) => new[] { (byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v };
        static void Chunk(List<byte> o, string type, byte[] data)
        {
            o.AddRange(BigEndian(data.Length));
            var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            o.AddRange(typed);
            o.AddRange(BigEndian((int)Crc32(typed)));
        }
        static uint Crc32(byte[] data)
        {
            uint crc = 0xFFFFFFFF;
            foreach (var b in data)
            {
                crc ^= b;
                for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
            return ~crc;
        }
    }
}
