using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DaRcot.Rec.Tests.Data;

/// <summary>Small image files in a temporary folder for data and evaluation tests.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Root = Directory.CreateTempSubdirectory("darcot-data-").FullName;

    public string Root { get; }

    public string Dir(params string[] parts)
    {
        var path = Path.Combine(new[] { Root }.Concat(parts).ToArray());
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Writes an RGB PNG (or JPEG by extension) whose pixel (x, y) is <paramref name="pixel"/>(x, y).</summary>
    public static string Write(string path, int width, int height, Func<int, int, Rgb24> pixel)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var image = new Image<Rgb24>(width, height);
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            image[x, y] = pixel(x, y);
        if (path.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase)) image.SaveAsJpeg(path);
        else image.SaveAsPng(path);
        return path;
    }

    /// <summary>A constant grey image.</summary>
    public static string Constant(string path, int width, int height, byte value) =>
        Write(path, width, height, (_, _) => new Rgb24(value, value, value));

    /// <summary>A textured image that differs per <paramref name="seed"/>.</summary>
    public static string Random(string path, int width, int height, int seed)
    {
        var random = new System.Random(seed);
        return Write(path, width, height, (_, _) => new Rgb24((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
