using System.Buffers.Binary;
using System.IO.Compression;

namespace DaRcot.Rec.Imaging;

/// <summary>
/// Checks that a PNG's compressed image data (its IDAT chunks) really holds every row its header promises. A file
/// can keep a valid IEND chunk and still carry the data of only a few rows; decoders then fill the rest with black
/// and report success, so the check inflates the data once and counts the bytes.
/// </summary>
internal static class PngIntegrity
{
    /// <summary>Null when the data is complete, otherwise the reason (for <see cref="Errors.ImageDecodeException"/>).</summary>
    public static string? Check(byte[] png)
    {
        int offset = 8;
        Header? header = null;
        var idat = new List<(int Offset, int Length)>();
        while (offset + 8 <= png.Length)
        {
            long length = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset));
            var type = System.Text.Encoding.ASCII.GetString(png, offset + 4, 4);
            if (offset + 12 + length > png.Length) return $"the PNG is truncated inside its '{type}' chunk.";
            int data = offset + 8;
            if (type == "IHDR" && length >= 13) header = ReadHeader(png.AsSpan(data, 13));
            else if (type == "IDAT") idat.Add((data, (int)length));
            else if (type == "IEND") break;
            offset = data + (int)length + 4;
        }
        if (header is null) return "the PNG has no IHDR header.";
        if (idat.Count == 0) return "the PNG has no image data (IDAT chunk).";
        long expected = header.Value.ExpectedBytes();
        if (expected <= 0) return null; // an invalid header: the decoder gives the precise reason
        long inflated;
        try
        {
            inflated = Inflate(png, idat, expected);
        }
        catch (InvalidDataException e)
        {
            return $"the PNG image data is corrupt ({e.Message})";
        }
        if (inflated >= expected) return null;
        return header.Value.Interlaced
            ? $"the PNG image data is truncated: it holds {inflated:N0} of the {expected:N0} bytes its {header.Value.Width}x{header.Value.Height} header needs."
            : $"the PNG image data is truncated: it holds {inflated / header.Value.RowBytes(header.Value.Width):N0} of {header.Value.Height:N0} rows.";
    }

    // Inflates the concatenated IDAT data, counting bytes, and stops as soon as `expected` bytes came out.
    private static long Inflate(byte[] png, List<(int Offset, int Length)> idat, long expected)
    {
        using var compressed = new MemoryStream();
        foreach (var (o, l) in idat) compressed.Write(png, o, l);
        compressed.Position = 0;
        using var zlib = new ZLibStream(compressed, CompressionMode.Decompress);
        var buffer = new byte[1 << 16];
        long total = 0;
        int n;
        while (total < expected && (n = zlib.Read(buffer, 0, buffer.Length)) > 0) total += n;
        return total;
    }

    private static Header ReadHeader(ReadOnlySpan<byte> ihdr) => new(
        BinaryPrimitives.ReadUInt32BigEndian(ihdr),
        BinaryPrimitives.ReadUInt32BigEndian(ihdr[4..]),
        ihdr[8], ihdr[9], ihdr[12] == 1);

    private readonly record struct Header(long Width, long Height, int BitDepth, int ColorType, bool Interlaced)
    {
        private int Samples => ColorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };

        /// <summary>Bytes of one filtered row of <paramref name="width"/> pixels: a filter byte plus the packed pixels.</summary>
        public long RowBytes(long width) => 1 + (width * Samples * BitDepth + 7) / 8;

        /// <summary>Bytes of the whole inflated image data (all seven Adam7 passes when interlaced).</summary>
        public long ExpectedBytes()
        {
            if (Samples == 0 || BitDepth is not (1 or 2 or 4 or 8 or 16) || Width <= 0 || Height <= 0) return 0;
            if (!Interlaced) return Height * RowBytes(Width);
            // Adam7 passes: (x start, y start, x step, y step).
            ReadOnlySpan<(int X, int Y, int Dx, int Dy)> passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];
            long total = 0;
            foreach (var p in passes)
            {
                long cols = (Width - p.X + p.Dx - 1) / p.Dx, rows = (Height - p.Y + p.Dy - 1) / p.Dy;
                if (cols > 0 && rows > 0) total += rows * RowBytes(cols);
            }
            return total;
        }
    }
}
