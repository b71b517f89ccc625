import { Chat } from "./chat";

export default function Page() {
  return <Chat title="Next.js chat" />;
}
