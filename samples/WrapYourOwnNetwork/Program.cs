using TorchSharp;
using WrapYourOwnNetwork;

// Usage: dotnet run --project samples/WrapYourOwnNetwork -- [--steps 40] [--image clean.png] [--out rec.safetensors]
// Without --image it uses ../shared/images/astronaut.png when that exists (the team's fixtures), else a generated image.
int steps = 40;
string? image = null, output = "wrapped-tinyunet.safetensors";
for (var i = 0; i < args.Length; i += 2)
{
    if (i + 1 == args.Length) { Console.Error.WriteLine($"{args[i]} needs a value"); return 1; }
    switch (args[i])
    {
        case "--steps": steps = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--image": image = args[i + 1]; break;
        case "--out": output = args[i + 1]; break;
        default: Console.Error.WriteLine($"unknown option {args[i]}"); return 1;
    }
}
image ??= File.Exists("../shared/images/astronaut.png") ? "../shared/images/astronaut.png" : null;

torch.manual_seed(0);    // the weights' initialisation; the data has its own seeded generator
Console.WriteLine($"training REC around TinyUNet for {steps} steps on {image ?? "a generated image"}");
RecTrainingDemo.Run(new DemoOptions { Steps = steps, ImagePath = image, WeightsPath = output }, Console.WriteLine);
return 0;
