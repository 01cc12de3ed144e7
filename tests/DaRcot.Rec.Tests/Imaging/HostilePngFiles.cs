using System.IO.Compression;

namespace DaRcot.Rec.Tests.Imaging;

/// <summary>Hand-built PNG files (valid chunk CRCs) whose image data may hold fewer rows than the header says.</summary>
internal static class HostilePngFiles
{
    /// <summary>An 8-bit RGB, non-interlaced PNG of <paramref name="width"/>×<paramref name="height"/> whose IDAT holds
    /// the filtered data of only <paramref name="rowsWithData"/> rows (all grey 128), followed by a valid IEND.</summary>
    public static byte[] Rgb8(int width, int height, int rowsWithData)
    {
        var raw = new MemoryStream();
        for (int y = 0; y < rowsWithData; y++)
        {
            raw.WriteByte(0); // filter: none
            for (int x = 0; x < 3 * width; x++) raw.WriteByte(128);
        }
        var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw.ToArray());

        var png = new List<byte> { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
        Chunk(png, "IHDR", [.. BigEndian(width), .. BigEndian(height), 8, 2, 0, 0, 0]);
        Chunk(png, "IDAT", compressed.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static byte[] BigEndian(int v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];

    private static void Chunk(List<byte> png, string type, byte[] data)
    {
        png.AddRange(BigEndian(data.Length));
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        png.AddRange(typed);
        png.AddRange(BigEndian((int)Crc32(typed)));
    }

    private static uint Crc32(byte[] data)
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
