"""qunbot: runs a learning community inside WeChat and WeCom group chats."""
