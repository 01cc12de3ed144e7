using DaRcot.Rec.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Imaging;

/// <summary><see cref="ImageTensor.Save(Tensor, string)"/> writes the format the extension names, or refuses.</summary>
public sealed class ImageSaveFormatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-save-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // k/255 values, so the 8-bit round trip of a lossless format is exact.
    private static Tensor Image(int channels = 3) =>
        (arange(channels * 20 * 30, dtype: ScalarType.Float32) % 256 / 255).reshape(1, channels, 20, 30);

    [Theory]
    [InlineData("out.png", new byte[] { 0x89, 0x50, 0x4E, 0x47 })]
    [InlineData("out.JPG", new byte[] { 0xFF, 0xD8, 0xFF })]
    [InlineData("out.jpeg", new byte[] { 0xFF, 0xD8, 0xFF })]
    [InlineData("out.bmp", new byte[] { (byte)'B', (byte)'M' })]
    public void The_file_starts_with_the_signature_of_the_format_its_extension_names(string name, byte[] signature)
    {
        var path = Path.Combine(_dir, name);
        using var image = Image();
        ImageTensor.Save(image, path);
        Assert.Equal(signature, File.ReadAllBytes(path).Take(signature.Length).ToArray());
        using var back = ImageTensor.Load(path);
        Assert.Equal(image.shape, back.shape);
        var maxError = (back - image).abs().max().item<float>();
        // PNG and BMP are lossless; JPEG at quality 95 stays close on this smooth ramp.
        Assert.True(name.EndsWith("png") || name.EndsWith("bmp") ? maxError == 0 : maxError < 0.2, $"max error {maxError}");
    }

    [Fact]
    public void Png_bytes_equal_those_of_SavePng_and_grey_stays_grey()
    {
        using var image = Image();
        var a = Path.Combine(_dir, "a.png");
        var b = Path.Combine(_dir, "b.png");
        ImageTensor.Save(image, a);
        ImageTensor.SavePng(image, b);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));

        using var grey = Image(1);
        var bmp = Path.Combine(_dir, "grey.bmp");
        ImageTensor.Save(grey, bmp);
        using var back = ImageTensor.Load(bmp, new ImageLoadOptions { Channels = ChannelMode.KeepChannels });
        Assert.Equal(0, (back[.., 0..1] - grey).abs().max().item<float>());
    }

    [Theory]
    [InlineData("out.tif")]
    [InlineData("out.webp")]
    [InlineData("noextension")]
    public void Other_extensions_are_refused_and_nothing_is_written(string name)
    {
        var path = Path.Combine(_dir, name);
        using var image = Image();
        var ex = Assert.Throws<ArgumentException>(() => ImageTensor.Save(image, path));
        Assert.Contains(".png, .jpg, .jpeg or .bmp", ex.Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Rounding_matches_the_documented_rule_at_every_level()
    {
        // v·255 exactly k + 0.5 only at v = 0.5 (127.5 → 128); values just below/above a half step round to nearest.
        var values = new float[] { 0f, 0.5f, 1f, 0.0019607f, 0.0019608f, -3f, 7f, 254.49f / 255f, 254.51f / 255f };
        using var image = tensor(values).reshape(1, 1, 1, values.Length);
        var path = Path.Combine(_dir, "levels.png");
        ImageTensor.Save(image, path);
        using var back = ImageTensor.Load(path, new ImageLoadOptions { Channels = ChannelMode.KeepChannels });
        var bytes = back.mul(255).round().to_type(ScalarType.Int32).data<int>().ToArray();
        Assert.Equal(new[] { 0, 128, 255, 0, 1, 0, 255, 254, 255 }, bytes);
    }
}
