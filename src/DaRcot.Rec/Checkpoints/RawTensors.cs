using TorchSharp;

namespace DaRcot.Rec.Checkpoints;

/// <summary>Conversions between tensors and their raw little-endian bytes, shared by every checkpoint format.</summary>
internal static class RawTensors
{
    public static int ElementSize(torch.ScalarType dtype) => dtype switch
    {
        torch.ScalarType.Byte or torch.ScalarType.Int8 or torch.ScalarType.Bool => 1,
        torch.ScalarType.Int16 or torch.ScalarType.Float16 or torch.ScalarType.BFloat16 => 2,
        torch.ScalarType.Int32 or torch.ScalarType.Float32 => 4,
        torch.ScalarType.Int64 or torch.ScalarType.Float64 or torch.ScalarType.ComplexFloat32 => 8,
        torch.ScalarType.ComplexFloat64 => 16,
        _ => throw new NotSupportedException($"dtype {dtype} is not supported in checkpoints"),
    };

    /// <summary>PyTorch's name of a dtype ("float32", "int64", ...), as shown to users.</summary>
    public static string Name(torch.ScalarType dtype) => dtype switch
    {
        torch.ScalarType.Float32 => "float32",
        torch.ScalarType.Float16 => "float16",
        torch.ScalarType.BFloat16 => "bfloat16",
        torch.ScalarType.Float64 => "float64",
        torch.ScalarType.Int64 => "int64",
        torch.ScalarType.Int32 => "int32",
        torch.ScalarType.Int16 => "int16",
        torch.ScalarType.Int8 => "int8",
        torch.ScalarType.Byte => "uint8",
        torch.ScalarType.Bool => "bool",
        torch.ScalarType.ComplexFloat32 => "complex64",
        torch.ScalarType.ComplexFloat64 => "complex128",
        _ => dtype.ToString(),
    };

    /// <summary>A new CPU tensor of <paramref name="shape"/> filled from <paramref name="bytes"/> (little-endian).</summary>
    public static torch.Tensor FromBytes(ReadOnlySpan<byte> bytes, torch.ScalarType dtype, long[] shape)
    {
        var t = torch.empty(shape, dtype);
        long n = shape.Aggregate(1L, (a, b) => a * b) * ElementSize(dtype);
        if (n != bytes.Length) throw new ArgumentException($"expected {n} bytes for shape [{string.Join(", ", shape)}] {Name(dtype)}, got {bytes.Length}");
        if (n > 0) bytes.CopyTo(t.bytes);
        return t;
    }

    /// <summary>The tensor's elements as contiguous little-endian bytes (copied to the CPU first when needed).</summary>
    public static byte[] ToBytes(torch.Tensor tensor)
    {
        using var scope = torch.NewDisposeScope();
        var t = tensor.detach().cpu().contiguous();
        return t.numel() == 0 ? Array.Empty<byte>() : t.bytes.ToArray();
    }
}
